import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMalformed, checkUnreadable, indexedCount } from '../../src/data/bad-data.js';
import type { Dataset, Sample } from '../../src/data/dataset.js';
import { UserError } from '../../src/errors.js';

const samples = (n: number): Sample[] => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, label: 0 }));
const skipped = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `row${i}`, reason: 'bad row' }));

const ds = { root: '/data/fer.csv', splits: { train: samples(6), val: samples(2), test: samples(1) }, skipped: skipped(1) } as unknown as Dataset;

test('indexedCount: every split and the malformed entries', () => {
  assert.equal(indexedCount(ds), 10);
});

test('checkMalformed: up to the fraction passes; over it fails naming the dataset and three examples', () => {
  checkMalformed(ds, 0.1);
  const many = { ...ds, skipped: skipped(4) } as Dataset;
  assert.throws(
    () => checkMalformed(many, 0.1, 'fer.csv'),
    (e: Error) =>
      e instanceof UserError &&
      e.reason === 'too-much-bad-data' &&
      e.message === '4 of 13 entries of "fer.csv" are malformed (more than 10.0%): row0: bad row; row1: bad row; row2: bad row',
  );
});

test('checkUnreadable: up to the fraction passes; over it fails with examples', () => {
  checkUnreadable(1, 20, skipped(1), 0.05);
  assert.throws(
    () => checkUnreadable(2, 20, skipped(2), 0.05),
    (e: Error) =>
      e instanceof UserError &&
      e.reason === 'too-much-bad-data' &&
      e.message === '2 of 20 images are unreadable (more than 5.0%): row0: bad row; row1: bad row',
  );
});
