import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageGaps, ageMetrics, ageRange, fitAgeRange, quantile } from '../../src/eval/age-metrics.js';

test('age metrics: MAE, RMSE, bias, median, within 5/10 years, per decade / gender / ethnic group', () => {
  const truth = [5, 25, 35, 70, 40];
  const pred = [9, 20, 35, 60, 43];
  const meta = [
    { gender: 'woman' as const, race: 'white' },
    { gender: 'man' as const, race: 'black' },
    { gender: 'woman' as const, race: 'white' },
    { gender: 'man' as const, race: 'asian' },
    { gender: 'woman' as const },
  ];
  const m = ageMetrics(truth, pred, meta);
  // errors: +4, -5, 0, -10, +3
  assert.equal(m.n, 5);
  assert.equal(m.mae, 22 / 5);
  assert.equal(m.bias, -8 / 5);
  assert.ok(Math.abs(m.rmse - Math.sqrt((16 + 25 + 0 + 100 + 9) / 5)) < 1e-12);
  assert.equal(m.medianAbsError, 4);
  assert.equal(m.within5, 4 / 5);
  assert.equal(m.within10, 1);
  assert.deepEqual(
    m.perDecade.map((r) => [r.value, r.n, r.mae, r.bias]),
    [
      ['0-9', 1, 4, 4],
      ['20-29', 1, 5, -5],
      ['30-39', 1, 0, 0],
      ['40-49', 1, 3, 3],
      ['70+', 1, 10, -10],
    ],
  );
  assert.deepEqual(
    m.perGender.map((r) => [r.value, r.n, r.mae]),
    [
      ['woman', 3, 7 / 3],
      ['man', 2, 7.5],
    ],
  );
  assert.deepEqual(
    m.perRace.map((r) => [r.value, r.n]),
    [
      ['white', 2],
      ['black', 1],
      ['asian', 1],
      ['unknown', 1],
    ],
  );
  assert.equal(m.range, undefined);
  assert.deepEqual(
    m.binned.map((b) => b.from),
    [5, 25, 35, 40, 70],
  );
  const gaps = ageGaps(m);
  assert.equal(gaps.womenMinusMen, Math.round((7 / 3 - 7.5) * 1000) / 1000);
  assert.equal(gaps.worstEthnicGroup, undefined, 'groups under 30 samples are not ranked');
});

test('age range: validation residual quantiles per band of predicted age; coverage is measured', () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([], 0.5), NaN);
  // Predictions around 30 with residuals -10..+10 (uniform), around 5 with residuals -1..+1.
  const truth: number[] = [];
  const pred: number[] = [];
  for (let i = 0; i <= 200; i++) {
    pred.push(32);
    truth.push(32 - 10 + i / 10);
    pred.push(5);
    truth.push(5 - 1 + i / 100);
  }
  const spec = fitAgeRange(truth, pred, 0.9, 'test data');
  assert.equal(spec.level, 0.9);
  assert.equal(spec.fittedOn, 'test data');
  const young = spec.bands.find((b) => b.from === 0)!;
  const mid = spec.bands.find((b) => b.from === 30)!;
  assert.equal(young.n, 201);
  assert.ok(Math.abs(young.lo + 0.9) < 0.011 && Math.abs(young.hi - 0.9) < 0.011, JSON.stringify(young));
  assert.ok(Math.abs(mid.lo + 9) < 0.011 && Math.abs(mid.hi - 9) < 0.011, JSON.stringify(mid));
  // Empty bands borrow the pooled quantiles.
  const old = spec.bands.find((b) => b.from === 60)!;
  assert.equal(old.n, 0);
  assert.ok(old.hi > 1);
  const [lo, hi] = ageRange(32, spec);
  assert.ok(Math.abs(lo - 23) < 0.011 && Math.abs(hi - 41) < 0.011);
  assert.ok(ageRange(0.2, spec)[0] >= 0, 'never below 0');
  const m = ageMetrics(
    truth,
    pred,
    truth.map(() => undefined),
    spec,
  );
  assert.ok(m.range && Math.abs(m.range.coverage - 0.9) < 0.02, `coverage ${m.range?.coverage}`);
  assert.ok(Math.abs(m.range!.meanWidth - (18 + 1.8) / 2) < 0.05);
});
