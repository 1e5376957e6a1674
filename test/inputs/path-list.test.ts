import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { MAX_LIST_ENTRY_BYTES, PathListError, readPathList } from '../../src/inputs/path-list.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const dir = tmpDir();

async function list(content: string | Buffer): Promise<string[]> {
  const f = path.join(dir, `list-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(f, content);
  const out: string[] = [];
  for await (const p of readPathList(f)) out.push(p);
  return out;
}

test('readPathList: newline, CRLF and NUL separated lists; empty entries skipped; entries split across chunks', async () => {
  assert.deepEqual(await list('a.jpg\nb c.png\n\nd.jpg'), ['a.jpg', 'b c.png', 'd.jpg']);
  assert.deepEqual(await list('a.jpg\r\nb.png\r\n'), ['a.jpg', 'b.png']);
  // NUL-separated (find -print0): a newline is part of a name.
  assert.deepEqual(await list('a\nb.jpg\0c.png\0\0'), ['a\nb.jpg', 'c.png']);
  // Many entries across the 64 KiB read chunks, multi-byte characters included.
  const names = Array.from({ length: 20_000 }, (_, i) => `dir/é-${i}.jpg`);
  assert.deepEqual(await list(names.join('\n') + '\n'), names);
  assert.deepEqual(await list(''), []);
});

test('readPathList: errors name the list (missing, a directory, an entry longer than any path)', async () => {
  const collect = async (src: string) => {
    for await (const _ of readPathList(src)) void _;
  };
  // The library names the list, not a command-line flag; the reason is typed.
  const is = (reason: string, message: RegExp) => (err: unknown) =>
    err instanceof PathListError && err.reason === reason && message.test(err.message) && !err.message.includes('--');
  await assert.rejects(collect(path.join(dir, 'nope.txt')), is('list-missing', /^path list ".*nope\.txt": no such file$/));
  await assert.rejects(collect(dir), is('list-is-directory', /^path list ".*": is a directory/));
  await assert.rejects(list(Buffer.alloc(MAX_LIST_ENTRY_BYTES + 10, 0x41)), is('list-not-paths', /entry 1 is longer than 65536 bytes: not a list of paths/));
});

const png = path.join(dir, 'face.png');
await sharp({ create: { width: 48, height: 48, channels: 3, background: '#a87' } })
  .png()
  .toFile(png);

test('classify with more than 64 KB of arguments runs (onnxruntime-node 1.29/1.30 crashed with SIGSEGV past ~30 KB)', async () => {
  // The shipped models in the onnx runtime: the crash was in onnxruntime's native library.
  const missing = Array.from({ length: 500 }, (_, i) => path.join(dir, `${'x'.repeat(140)}-${i}.jpg`));
  const args = ['classify', '--json', '--crops', '--runtime', 'onnx', png, ...missing];
  assert.ok(args.join(' ').length > 64 * 1024);
  const r = runCli(args);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^facecls: 500 of 501 input\(s\) failed\n$/);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { file: string; faces?: unknown[]; error?: string });
  assert.equal(lines.length, 501);
  assert.equal(lines[0].faces?.length, 1, 'the real image was classified');
  assert.ok(lines.slice(1).every((l) => /no such file/.test(String(l.error))));
});

test('classify --files-from: a list file and standard input (NUL-separated), after the arguments, errors per entry', async () => {
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  fs.copyFileSync(png, path.join(sub, 'b.png'));
  const listFile = path.join(dir, 'inputs.txt');
  // A file, a directory (expanded), a missing file, and a literal name with a glob character.
  fs.writeFileSync(listFile, [png, sub, path.join(dir, 'gone.jpg'), path.join(dir, '*.png')].join('\n') + '\n');
  const r = runCli(['classify', '--json', '--crops', '--files-from', listFile, png]);
  assert.equal(r.code, 1, r.stderr);
  const files = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { file: string; error?: string });
  assert.deepEqual(
    files.map((f) => path.relative(dir, f.file)),
    ['face.png', 'face.png', 'sub/b.png', 'gone.jpg', '*.png'],
  );
  assert.deepEqual(
    files.map((f) => f.error === undefined),
    [true, true, true, false, false],
  );
  assert.match(r.stderr, /2 of 5 input\(s\) failed/);

  const stdin = runCli(['classify', '--csv', '--crops', '--files-from', '-'], { input: Buffer.from(`${png}\0${path.join(sub, 'b.png')}\0`) });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(stdin.stdout.trim().split('\n').length, 3, 'header + one row per image');

  const none = runCli(['classify', '--json']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^facecls: error: no inputs: give image files, directories or globs, or --files-from <file\|->\n$/);
  const bad = runCli(['classify', '--json', '--files-from', path.join(dir, 'nolist.txt')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^facecls: error: --files-from ".*nolist\.txt": no such file\n$/);
});

test('classify refuses devices, FIFOs and files over --max-bytes per input; the batch goes on', async () => {
  const r = runCli(['classify', '--json', '--crops', '/dev/zero', png, '--max-bytes', '1K']);
  assert.equal(r.code, 1, r.stderr);
  const [zero, ok] = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { error?: string; faces?: unknown[] });
  assert.match(String(zero.error), /a character device, not a regular file: refused/);
  assert.ok(ok.faces, 'a 48x48 PNG is under 1 KiB');
  const small = runCli(['classify', '--json', '--crops', png, '--max-bytes', '100']);
  assert.match(String((JSON.parse(small.stdout) as { error: string }).error), /file is \d+ bytes, over the 100-byte limit/);
  const badOpt = runCli(['classify', '--json', png, '--max-bytes', 'lots']);
  assert.equal(badOpt.code, 1);
  assert.match(badOpt.stderr, /^facecls: error: --max-bytes must be a byte count/);
});
