import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adultsOnly, evalSamples, evenlySpaced } from '../../src/eval/eval-samples.js';
import type { Dataset, Sample } from '../../src/data/dataset.js';
import { UserError } from '../../src/errors.js';
import { testMeta } from '../helpers/meta.js';

const meta0 = testMeta('gender', 12, 1);
const sample = (id: string, age?: number): Sample => ({ id, label: 0, meta: age === undefined ? undefined : { age } });

function dataset(test: Sample[], skipped = 0): Dataset {
  return {
    root: '/d',
    format: 'utkface',
    labels: [...meta0.labels],
    splits: { train: [], val: [], test },
    skipped: Array.from({ length: skipped }, (_, i) => ({ id: `bad${i}`, reason: 'unparsable name' })),
    split: { method: 'random', counts: {} },
  } as unknown as Dataset;
}

test('evenlySpaced: a limit picks samples across the whole list; no limit or a large one keeps all', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(evenlySpaced(items, 4), [0, 2, 5, 7]);
  assert.equal(evenlySpaced(items, undefined), items);
  assert.equal(evenlySpaced(items, 10), items);
});

test('adultsOnly: keeps known ages of 18 and over; a dataset without ages is refused with its reason', () => {
  const ds = dataset([]);
  assert.deepEqual(
    adultsOnly([sample('a', 17), sample('b', 18), sample('c'), sample('d', 40)], ds).map((s) => s.id),
    ['b', 'd'],
  );
  assert.throws(
    () => adultsOnly([sample('a'), sample('b')], ds),
    (e: Error) => e instanceof UserError && e.reason === 'no-ages' && /records no ages/.test(e.message),
  );
});

test('evalSamples: refuses too many malformed entries, other labels and an empty split', async () => {
  const meta = meta0;
  const base = { split: 'test' as const, maxBadFraction: 0.2 };
  const ok = await evalSamples(meta, { ...base, data: dataset([sample('a', 30), sample('b', 10)], 0), adults: true });
  assert.deepEqual(
    ok.samples.map((s) => s.id),
    ['a'],
  );
  await assert.rejects(
    evalSamples(meta, { ...base, data: dataset([sample('a'), sample('b')], 1) }),
    (e: Error) => e instanceof UserError && e.reason === 'too-much-bad-data',
  );
  await assert.rejects(
    evalSamples({ ...meta, labels: ['x', 'y'] }, { ...base, data: dataset([sample('a')]) }),
    /model labels \(x, y\) differ from the dataset's/,
  );
  await assert.rejects(evalSamples(meta, { ...base, data: dataset([sample('a', 10)]), adults: true }), /has no samples of adults/);
});
