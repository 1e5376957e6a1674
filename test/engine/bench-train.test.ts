import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

test('facecls bench train --json prints one row per engine configuration with ratios', () => {
  const r = runCli([
    'bench',
    'train',
    '--json',
    '--arch',
    'tiny-xception',
    '--inputs',
    '8',
    '--batches',
    '4',
    '--workers',
    '0,1',
    '--steps',
    '2',
    '--cpu-steps',
    '1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Array<Record<string, unknown>>;
  assert.deepEqual(
    rows.map((x) => [x.engine, x.workers]),
    [
      ['tfjs-cpu', 0],
      ['wasm+facecls', 0],
      ['wasm+facecls', 1],
    ],
  );
  for (const row of rows) {
    assert.equal(row.arch, 'tiny-xception');
    assert.equal(row.input, 8);
    assert.equal(row.batch, 4);
    assert.ok((row.msPerStep as number) > 0 && Number.isFinite(row.msPerStep));
    assert.ok(Math.abs((row.imagesPerSec as number) - 4000 / (row.msPerStep as number)) < 1e-6);
  }
  assert.ok((rows[1].vsCpu as number) > 0);
  assert.equal(rows[1].tensorGrowth, 0);
  assert.equal(rows[2].tensorGrowth, 0);
  assert.equal(rows[2].vs1Worker, 1);
});

test('facecls bench train rejects bad options with a one-line error', () => {
  for (const args of [
    ['--inputs', '0'],
    ['--batches', 'x'],
    ['--arch', 'nope'],
    ['--workers', '-1'],
  ]) {
    const r = runCli(['bench', 'train', ...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^facecls: error: /);
  }
});
