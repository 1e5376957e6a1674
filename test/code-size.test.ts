/**
 * Size limits of the hand-written code (issue 24): functions of at most 80 lines and files of at most
 * 500 lines in src/, web/ and bench/, generated files excluded. The check is scripts/check-size.mjs
 * (run it directly for a listing: `node scripts/check-size.mjs --all`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../src/data/paths.js';

interface Measured {
  file: string;
  name?: string;
  start?: number;
  lines: number;
}
interface CheckSize {
  MAX_FUNCTION_LINES: number;
  MAX_FILE_LINES: number;
  measure(root: string): { longFiles: Measured[]; longFunctions: Measured[]; functions: Measured[] };
}

const root = projectRoot();
const load = async (): Promise<CheckSize> => (await import(pathToFileURL(path.join(root, 'scripts', 'check-size.mjs')).href)) as CheckSize;

test('no hand-written file is longer than the file limit', async () => {
  const check = await load();
  const long = check.measure(root).longFiles.map((f) => `${f.file} (${f.lines} lines)`);
  assert.deepEqual(long, [], `files over ${check.MAX_FILE_LINES} lines: split them`);
});

test('no hand-written function is longer than the function limit', async () => {
  const check = await load();
  const long = check.measure(root).longFunctions.map((f) => `${f.file}:${f.start} ${f.name} (${f.lines} lines)`);
  assert.deepEqual(long, [], `functions over ${check.MAX_FUNCTION_LINES} lines: split them`);
});

test('the size check sees functions of every kind', async () => {
  const check = await load();
  const fns = check.measure(root).functions;
  assert.ok(fns.length > 500, `only ${fns.length} functions found`);
  assert.ok(fns.some((f) => f.file.startsWith('web')) && fns.some((f) => f.file.startsWith('bench')));
});
