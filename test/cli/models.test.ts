import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

test('facecls models --json lists the zoo with costs', () => {
  const r = runCli(['models', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const mini = rows.find((x) => x.name === 'mini-xception');
  assert.ok(mini);
  assert.equal(mini.params, 58423);
  assert.equal(mini.trainableParams, 56951);
  assert.equal(mini.macs, 5520448);
  // The stride-2 stem: same parameters, a quarter of the stem's map (1.4 M MACs at 48x48).
  assert.equal(rows.find((x) => x.name === 'mini-xception-s2')?.macs, 1401232);
  assert.deepEqual(
    rows.map((x) => x.name),
    ['simple-cnn', 'simpler-cnn', 'tiny-xception', 'mini-xception', 'mini-xception-s2', 'big-xception'],
  );
});

test('facecls models --bench measures inference time', () => {
  const r = runCli(['models', '--bench', '--json', '--input', '48']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<Record<string, number | string>>;
  for (const row of rows) {
    assert.equal(row.backend, 'wasm');
    assert.ok(Number(row.msPerImageBatch1) > 0 && Number(row.msPerImageBatch32) > 0);
  }
  const table = runCli(['models', '--bench', '--backend', 'cpu', '--input', '32']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /ms\/img b32/);
  assert.match(table.stdout, /backend: cpu/);
});

test('user errors: one line, no stack, non-zero exit', () => {
  for (const args of [
    ['models', '--input', 'abc'],
    ['models', '--input', '3'],
    ['--backend', 'gpu', 'models', '--bench'],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^facecls: error: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const unknown = runCli(['frobnicate']);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /unknown command/);
});

test('facecls models --shipped: the age model runs in the pipeline (default, fast), no "not yet"', () => {
  const r = runCli(['models', '--shipped']);
  assert.equal(r.code, 0, r.stderr);
  const ageRow = r.stdout.split('\n').find((l) => /^age\s/.test(l));
  assert.ok(ageRow, r.stdout);
  assert.match(ageRow, /MAE \d+\.\d+ y/);
  assert.match(ageRow, /default \(fast\)\s*$/);
  assert.doesNotMatch(r.stdout, /not yet/);
  for (const task of ['emotion', 'gender']) assert.match(r.stdout, new RegExp(`^${task}\\s.*default \\(fast\\)\\s*$`, 'm'));
});
