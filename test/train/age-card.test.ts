import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageMetrics } from '../../src/eval/age-metrics.js';
import { ageLimitations, ageMarkdown, cardAge } from '../../src/train/age-card.js';

/** 40 faces per decade and per ethnic group; errors grow with age, children guessed older, old faces younger. */
function metrics() {
  const truth: number[] = [];
  const pred: number[] = [];
  const meta: Array<{ gender: 'woman' | 'man'; race: string }> = [];
  const races = ['white', 'black', 'asian', 'indian', 'others'];
  for (let i = 0; i < 400; i++) {
    const age = 5 + (i % 8) * 10;
    truth.push(age);
    pred.push(age < 20 ? age + 3 : age > 70 ? age - 8 : age + (i % 2 ? 2 : -2) + (races[i % 5] === 'asian' ? 3 : 0));
    meta.push({ gender: i % 3 ? 'man' : 'woman', race: races[i % 5] });
  }
  return ageMetrics(truth, pred, meta, { level: 0.9, bands: [{ from: 0, to: null, n: 400, lo: -5, hi: 5 }] });
}

test('card age: figures without per-sample data, gaps, Markdown tables, what the model is worst at', () => {
  const a = cardAge({ ...metrics(), samples: { truth: [1], predicted: [2] } });
  assert.ok(!('samples' in (a as object)));
  assert.ok(a.binned.length > 0, "the plot's bins stay");
  assert.equal(a.gaps.worstEthnicGroup?.value, 'asian');
  assert.ok(a.gaps.worstEthnicGroup!.aboveOverall > 0);
  const md = ageMarkdown(a, 0, 'test').join('\n');
  assert.match(md, /^MAE \*\*[\d.]+ years\*\* on 400 images; RMSE [\d.]+; bias [+-][\d.]+ \(predicted minus true\)/);
  assert.match(md, /\| decade \| MAE \(years\) \| bias \| n \|\n\|---\|---:\|---:\|---:\|\n\| 0-9 \| 3\.00 \| \+3\.00 \| 50 \|/);
  assert.match(md, /\| ethnic group \| MAE \(years\) \| bias \| n \|/);
  assert.match(md, /covers [\d.]+% of true ages, mean width 10\.00 years\./);
  assert.doesNotMatch(md, /in-sample/);
  assert.match(md, /Predicted against true age: \[`age-test\.png`\]\(age-test\.png\)/);
  assert.match(ageMarkdown(a, 0, 'val', true).join('\n'), /\(age-val-adults\.png\)/);
  assert.match(ageMarkdown(a, 0, 'val').join('\n'), /in-sample: the range was fitted on this split/);
  const lim = ageLimitations([{ age: a, title: 'UTKFace test split, all ages' }, { title: 'no age figures' }]);
  const measured = lim.filter((l) => l.startsWith('Measured on'));
  assert.equal(measured.length, 1);
  assert.match(
    measured[0],
    /^Measured on UTKFace test split, all ages: MAE [\d.]+; the worst decade is 70\+ \(MAE 8\.00, bias -8\.00, 50 faces\); the worst ethnic group "asian"/,
  );
  assert.match(measured[0], /Estimates are pulled toward the middle: 70\+ by -8\.00, 0-9 by \+3\.00 years on average\./);
});
