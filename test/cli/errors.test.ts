import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { cliErrorMessage, EXIT_CODES, exitCodeOf, FLAG_HINTS, INTERNAL_ERROR_EXIT_CODE } from '../../src/cli/errors.js';
import { ImageDecodeError } from '../../src/data/decode.js';
import { UserError } from '../../src/errors.js';
import { PathListError } from '../../src/inputs/path-list.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

test('exit codes by table: every user-error reason exits 1 (the documented contract), anything else 2', () => {
  assert.ok(Object.values(EXIT_CODES).every((c) => c === 1));
  assert.equal(exitCodeOf(new UserError('x')), 1);
  assert.equal(exitCodeOf(new ImageDecodeError('a.jpg', 'empty file', 'empty')), 1);
  assert.equal(exitCodeOf(new Error('bug')), INTERNAL_ERROR_EXIT_CODE);
  assert.equal(INTERNAL_ERROR_EXIT_CODE, 2);
});

test('flag hints are added by the CLI from the reason; a path list is named by its flag', () => {
  const special = new ImageDecodeError('/dev/zero', 'a character device, not a regular file: refused', 'special-file');
  assert.doesNotMatch(special.message, /--/);
  assert.equal(cliErrorMessage(special), `${special.message} (${FLAG_HINTS['special-file']})`);
  assert.match(cliErrorMessage(special), /\(pass --allow-special-files to read it, up to --max-bytes\)$/);
  assert.match(cliErrorMessage(new ImageDecodeError('a.png', 'image exceeds the 9-pixel limit', 'too-many-pixels')), /--max-pixels\)$/);
  // A reason without a hint: the message as it is.
  assert.equal(cliErrorMessage(new UserError('bad value')), 'bad value');
  const list = new PathListError('"l.txt"', 'no such file', 'list-missing');
  assert.equal(list.message, 'path list "l.txt": no such file');
  assert.equal(cliErrorMessage(list), '--files-from "l.txt": no such file');
});

test('a decode error that stops a command is one line with the flag hint', () => {
  const out = path.join(tmpDir(), 'out.png');
  const r = runCli(['saliency', '/dev/zero', '--crops', '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    'facecls: error: cannot decode image "/dev/zero": a character device, not a regular file: refused (pass --allow-special-files to read it, up to --max-bytes)\n',
  );
});
