import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ageCentres, ageRangeSpec, anchorQuantile, formatAge, toAgeEstimate } from '../../src/core/age.js';
import { projectRoot } from '../../src/data/paths.js';
import type { ModelMeta } from '../../src/io/model-meta.js';

/** The shipped age model's metadata, read from its model.json (no weights needed). */
function shippedAgeMeta(): ModelMeta {
  const json = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'models', 'age', 'model.json'), 'utf8')) as { userDefinedMetadata: { facecls: ModelMeta } };
  return json.userDefinedMetadata.facecls;
}

const ANCHORS = [1, 7, 16, 24, 32, 44, 60, 90];
const oneHot = (age: number) => ANCHORS.map((a) => (a === age ? 1 : 0));

test('the age of a face: the expectation over the anchors, the range from the model card band of that estimate', () => {
  const shipped = shippedAgeMeta();
  assert.deepEqual(ageCentres(shipped), ANCHORS);
  assert.equal(ageRangeSpec(shipped)!.level, 0.9, 'the shipped model carries its fitted 90% range');
  // Fixed bands (residual quantiles as a model card stores them) so the expected ranges are worked out by hand.
  const bands = [
    { from: 0, to: 10, n: 300, lo: -2.75, hi: 2.49 },
    { from: 10, to: 20, n: 150, lo: -7.4, hi: 8.2 },
    { from: 20, to: 30, n: 800, lo: -8.17, hi: 9.63 },
    { from: 30, to: 45, n: 600, lo: -13.03, hi: 14.91 },
    { from: 45, to: null, n: 500, lo: -18, hi: 16 },
  ];
  const meta = { ...shipped, age: { centres: ANCHORS, range: { level: 0.9, fittedOn: 'test', bands } } };
  // All mass on 32: band 30-45 (lo -13.03, hi +14.91).
  assert.deepEqual(toAgeEstimate(oneHot(32), meta), { years: 32, range: [19, 47] });
  // Half 24, half 32: 28 years, band 20-30 (lo -8.17, hi +9.63).
  assert.deepEqual(toAgeEstimate([0, 0, 0, 0.5, 0.5, 0, 0, 0], meta), { years: 28, range: [20, 38] });
  // Unnormalised rows are renormalised; years keep one decimal.
  assert.deepEqual(toAgeEstimate([0, 0, 0, 0.2, 0.1, 0, 0, 0], meta).years, 26.7);
  // A young estimate: band 0-10 (lo -2.75, hi +2.49); the range never goes below 0.
  assert.deepEqual(toAgeEstimate(oneHot(1), meta), { years: 1, range: [0, 3] });
  // Past the last band's start: the open band 45+.
  assert.deepEqual(toAgeEstimate(oneHot(90), meta), { years: 90, range: [72, 106] });
});

test('a model without a fitted range: the central 90% of its own distribution; labels as anchors without a codec', () => {
  const meta = { labels: ANCHORS.map(String) };
  assert.deepEqual(ageCentres(meta), ANCHORS);
  assert.equal(ageRangeSpec(meta), undefined);
  // Mass on 32 spreads over the half-gaps [28, 38]: 5% and 95% at 28.5 and 37.5.
  assert.equal(anchorQuantile(oneHot(32), ANCHORS, 0.05), 28.5);
  assert.equal(anchorQuantile(oneHot(32), ANCHORS, 0.95), 37.5);
  assert.deepEqual(toAgeEstimate(oneHot(32), meta), { years: 32, range: [29, 38] });
  const wide = toAgeEstimate([0, 0, 0, 0.5, 0, 0, 0.5, 0], meta);
  assert.equal(wide.years, 42);
  assert.ok(wide.range[0] < 24 && wide.range[1] > 60, `a two-peaked distribution gives a wide range: [${wide.range}]`);
  assert.throws(() => ageCentres({ labels: ['young', 'old'] }), /anchor ages/);
});

test('formatAge: whole years and the range, as the table and the page show it', () => {
  assert.equal(formatAge({ years: 31.4, range: [24, 40] }), '31 (24-40)');
  assert.equal(formatAge({ years: 31.5, range: [24, 40] }), '32 (24-40)');
});
