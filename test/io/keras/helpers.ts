/** Helpers for the Keras importer tests: fixture files and NumPy references written by Debian's python. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../../src/data/paths.js';

/** Debian's python has h5py and numpy (the pyenv `python3` on PATH does not). */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(projectRoot(), 'test', 'io', 'keras', 'keras_fixtures.py');

let skipReason: string | false | undefined;
/** Why the tests that need Python's h5py + NumPy skip here (one line), or false when they can run. */
export function pythonSkip(): string | false {
  if (skipReason !== undefined) return skipReason;
  if (!fs.existsSync(PYTHON)) return (skipReason = `needs ${PYTHON} with h5py and numpy (apt-get install python3-h5py python3-numpy): skipped`);
  const r = spawnSync(PYTHON, ['-c', 'import h5py, numpy'], { encoding: 'utf8' });
  skipReason = r.status === 0 ? false : `needs h5py and numpy for ${PYTHON} (apt-get install python3-h5py python3-numpy): skipped`;
  return skipReason;
}

function py(args: string[]): void {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${path.basename(SCRIPT)} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

/** Write the fixture HDF5 files (Keras 2 layout) into dir. */
export function writeFixtures(dir: string): void {
  py(['write', dir]);
}

export interface Reference {
  inputShape: number[];
  input: number[];
  outputShape: number[];
  output: number[];
}

/** NumPy forward pass of `n` fixed inputs through the model in `file`, computed from its raw HDF5 arrays. */
export function numpyReference(file: string, outDir: string, n: number): Reference {
  const out = path.join(outDir, `${path.basename(file)}.ref.json`);
  py(['reference', file, out, String(n)]);
  return JSON.parse(fs.readFileSync(out, 'utf8')) as Reference;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
