import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { comparePaths, expandInput, expandInputs, hasGlob, IMAGE_EXTENSIONS } from '../../src/inputs/expand.js';
import { tmpDir } from '../helpers/tmp.js';

const root = tmpDir();

/** Create files (empty: expansion never reads them) under `dir`, in the order given. */
function touch(dir: string, names: string[]): void {
  for (const n of names) {
    fs.mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    fs.writeFileSync(path.join(dir, n), '');
  }
}

const rel = (dir: string, items: Array<{ file: string; error?: string }>) =>
  items.map((i) => (i.error ? `${path.relative(dir, i.file)}: ${i.error}` : path.relative(dir, i.file)));

test('a directory: its images, recursively, folder by folder in name order; other files, hidden files and hidden folders skipped', () => {
  const dir = path.join(root, 'photos');
  // Created out of order: the result must not depend on the order the file system lists them in.
  touch(dir, ['b/z.jpg', 'B.PNG', 'a.jpg', 'notes.txt', '.hidden.jpg', '.cache/x.jpg', 'b/a.webp', 'c.jpeg', 'b/sub/deep.png', '10.jpg', '9.jpg']);
  const out = expandInput(dir);
  assert.deepEqual(rel(dir, out), ['10.jpg', '9.jpg', 'a.jpg', 'b/a.webp', 'b/sub/deep.png', 'b/z.jpg', 'B.PNG', 'c.jpeg']);
  assert.deepEqual(expandInput(dir), out, 'the same order every time');
  // A directory given with a trailing slash yields the same paths.
  assert.deepEqual(expandInput(dir + '/'), out);
  // Other extensions on request (batch submit adds videos).
  assert.deepEqual(rel(dir, expandInput(dir, { extensions: new Set(['.txt']) })), ['notes.txt']);
});

test('globs: *, ?, [..], ** and {a,b}; hidden files not matched; only files; sorted', () => {
  const dir = path.join(root, 'globs');
  touch(dir, ['x2.jpg', 'x1.jpg', 'y.png', '.h.jpg', 'sub/x3.jpg', 'sub/.h/x4.jpg', 'readme.md', 'dir.jpg/inner.txt']);
  assert.deepEqual(rel(dir, expandInput(path.join(dir, '*.jpg'))), ['x1.jpg', 'x2.jpg']);
  assert.deepEqual(rel(dir, expandInput(path.join(dir, 'x?.jpg'))), ['x1.jpg', 'x2.jpg']);
  assert.deepEqual(rel(dir, expandInput(path.join(dir, 'x[2-9].jpg'))), ['x2.jpg']);
  assert.deepEqual(rel(dir, expandInput(path.join(dir, '**/*.jpg'))), ['sub/x3.jpg', 'x1.jpg', 'x2.jpg']);
  assert.deepEqual(rel(dir, expandInput(path.join(dir, '*.{png,md}'))), ['readme.md', 'y.png']);
  // A glob keeps whatever file it matches (the user named the pattern): readme.md above.
  assert.ok(hasGlob('a/*.jpg') && hasGlob('a?.jpg') && hasGlob('[ab].jpg') && hasGlob('{a,b}.jpg') && !hasGlob('a/b.jpg'));
});

test('a relative glob is relative to the working directory, and results stay relative', () => {
  const dir = path.join(root, 'rel');
  touch(dir, ['p/one.jpg', 'p/two.jpg']);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    assert.deepEqual(expandInput('p/*.jpg'), [{ file: path.join('p', 'one.jpg') }, { file: path.join('p', 'two.jpg') }]);
    assert.deepEqual(expandInput('*/t*.jpg'), [{ file: path.join('p', 'two.jpg') }]);
  } finally {
    process.chdir(cwd);
  }
});

test('symbolic links to folders and files are followed; a link loop ends', () => {
  const dir = path.join(root, 'links');
  const target = path.join(root, 'link-target');
  touch(target, ['in.jpg']);
  touch(dir, ['own.jpg']);
  fs.symlinkSync(target, path.join(dir, 'linked'));
  fs.symlinkSync(path.join(target, 'in.jpg'), path.join(dir, 'file-link.jpg'));
  fs.symlinkSync(dir, path.join(dir, 'loop'));
  const out = rel(dir, expandInput(dir));
  assert.ok(out.includes('linked/in.jpg') && out.includes('file-link.jpg') && out.includes('own.jpg'), out.join(', '));
  assert.ok(out.length < 50, `a loop is not followed forever (${out.length} paths)`);
  // A link to a folder given as the input is that folder.
  assert.deepEqual(rel(path.join(dir, 'linked'), expandInput(path.join(dir, 'linked'))), ['in.jpg']);
});

test('inputs that yield nothing are one item with an error, named by the input itself', () => {
  const dir = path.join(root, 'errors');
  fs.mkdirSync(path.join(dir, 'empty'), { recursive: true });
  touch(dir, ['only.txt', 'lit[1].jpg']);
  const missing = path.join(dir, 'missing.jpg');
  assert.deepEqual(expandInput(missing), [{ file: missing, error: 'no such file' }]);
  const noMatch = path.join(dir, '*.gif');
  assert.deepEqual(expandInput(noMatch), [{ file: noMatch, error: 'no files match' }]);
  assert.deepEqual(expandInput(path.join(dir, 'nodir', '*.jpg')), [{ file: path.join(dir, 'nodir', '*.jpg'), error: 'no files match' }]);
  assert.deepEqual(expandInput(path.join(dir, 'empty')), [{ file: path.join(dir, 'empty'), error: 'directory contains no images' }]);
  assert.deepEqual(expandInput(path.join(dir, 'empty'), { extensions: new Set([...IMAGE_EXTENSIONS, '.mp4']) }), [
    { file: path.join(dir, 'empty'), error: 'directory contains no images or videos' },
  ]);
  // glob: false (list entries) takes a pattern literally; an existing file with glob characters is itself.
  assert.deepEqual(expandInput(path.join(dir, '*.txt'), { glob: false }), [{ file: path.join(dir, '*.txt'), error: 'no such file' }]);
  assert.deepEqual(expandInput(path.join(dir, 'lit[1].jpg')), [{ file: path.join(dir, 'lit[1].jpg') }]);
});

test('URLs pass through; expandInputs keeps the order of the inputs', () => {
  const dir = path.join(root, 'order');
  touch(dir, ['a.jpg', 'b.jpg']);
  const out = expandInputs(['https://example.org/x.jpg', path.join(dir, 'b.jpg'), dir, 'http://example.org/y.png']);
  assert.deepEqual(
    out.map((i) => i.file),
    ['https://example.org/x.jpg', path.join(dir, 'b.jpg'), path.join(dir, 'a.jpg'), path.join(dir, 'b.jpg'), 'http://example.org/y.png'],
  );
  assert.ok(out.every((i) => i.error === undefined));
});

test('comparePaths: folder by folder, English collation, code point order on ties', () => {
  const paths = ['b/a.jpg', 'a.jpg', 'B.jpg', 'a/z.jpg', 'b.jpg', 'A.jpg'].map((p) => p.split('/').join(path.sep));
  assert.deepEqual(
    paths.sort(comparePaths),
    ['a/z.jpg', 'a.jpg', 'A.jpg', 'b/a.jpg', 'b.jpg', 'B.jpg'].map((p) => p.split('/').join(path.sep)),
  );
});
