import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evaluate } from '../../src/eval/evaluate.js';
import { metricsFromConfusion } from '../../src/eval/metrics.js';
import { confusionPng, confusionText } from '../../src/eval/heatmap.js';
import { writeReport, formatReport } from '../../src/cli/commands/eval.js';
import type { InferenceRuntime } from '../../src/runtime/types.js';
import type { ModelMeta } from '../../src/io/model-store.js';
import { tmpDir } from '../helpers/tmp.js';
import { pngOf } from '../data/fixtures.js';
import { testMeta } from '../helpers/meta.js';

test('metrics on a hand-made confusion matrix', () => {
  // rows = true, columns = predicted
  const m = metricsFromConfusion(
    [
      [5, 1, 0],
      [2, 3, 1],
      [0, 0, 0],
    ],
    ['a', 'b', 'c'],
  );
  assert.equal(m.n, 12);
  assert.equal(m.correct, 8);
  assert.equal(m.accuracy, 8 / 12);
  const [a, b, c] = m.perClass;
  assert.equal(a.precision, 5 / 7);
  assert.equal(a.recall, 5 / 6);
  assert.ok(Math.abs(a.f1 - (2 * (5 / 7) * (5 / 6)) / (5 / 7 + 5 / 6)) < 1e-12);
  assert.equal(b.precision, 3 / 4);
  assert.equal(b.recall, 3 / 6);
  assert.equal(c.support, 0);
  assert.equal(c.predicted, 1);
  assert.equal(c.precision, 0);
  // macro averages over classes present in the data
  assert.ok(Math.abs(m.balancedAccuracy - (5 / 6 + 3 / 6) / 2) < 1e-12);
  assert.ok(Math.abs(m.macroF1 - (a.f1 + b.f1) / 2) < 1e-12);
  assert.equal(confusionText(m.confusion, m.labels).split('\n')[2].trim().split(/\s+/).join(' '), 'b 2 3 1');
});

/**
 * A real InferenceRuntime with a known decision rule: "man" when the left half of the input is
 * brighter than the right half. With flip TTA the two views disagree and average to a tie.
 */
class LeftBrightRuntime implements InferenceRuntime {
  readonly name = 'tfjs' as const;
  readonly tta = 'none' as const;
  meta: ModelMeta = testMeta('gender', 8, 1);
  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const out = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) d += (x < 4 ? 1 : -1) * batch[i * 64 + y * 8 + x];
      const man = 1 / (1 + Math.exp(-d));
      out[i * 2] = 1 - man;
      out[i * 2 + 1] = man;
    }
    return out;
  }
  async dispose(): Promise<void> {}
}

test('evaluate: hand-made UTKFace-style case end to end (decode, confusion, groups, adults, flip TTA, bad image)', async () => {
  const root = tmpDir();
  const img = async (leftBright: boolean) => {
    const px = new Uint8Array(64);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) px[y * 8 + x] = x < 4 === leftBright ? 200 : 50;
    return pngOf(px, 8);
  };
  // [age, gender (0 male, 1 female), race, left bright?]: predicted man iff left bright.
  const rows: Array<[number, number, number, boolean]> = [
    [30, 0, 0, true], // man -> man
    [40, 0, 1, true], // man -> man
    [12, 0, 2, false], // man -> woman (child)
    [25, 1, 0, false], // woman -> woman
    [35, 1, 1, true], // woman -> man
    [8, 1, 0, false], // woman -> woman (child)
  ];
  for (let i = 0; i < rows.length; i++) {
    const [age, g, r, left] = rows[i];
    fs.writeFileSync(path.join(root, `${age}_${g}_${r}_2017010915055${i}.jpg.chip.jpg`), await img(left));
  }
  fs.writeFileSync(path.join(root, '50_1_0_20170109150559999.jpg.chip.jpg'), Buffer.from('corrupt'));
  const runtime = new LeftBrightRuntime();
  const base = { model: runtime, data: root, split: 'test' as const, testFraction: 0.5, valFraction: 0, splitSeed: 3, maxBadFraction: 0.5 };
  // Evaluate everything by putting it all in "test": fraction 1 is not allowed, so use train with test 0.
  const all = await evaluate({ ...base, split: 'train', testFraction: 0 });
  assert.equal(all.skipped.count, 1);
  assert.match(all.skipped.examples[0].reason, /cannot decode image/);
  assert.equal(all.metrics.n, 6);
  assert.deepEqual(all.metrics.confusion, [
    [2, 1],
    [1, 2],
  ]); // rows: woman, man
  assert.deepEqual(
    all.groups.gender!.map((g) => [g.value, g.correct, g.n]),
    [
      ['woman', 2, 3],
      ['man', 2, 3],
    ],
  );
  assert.deepEqual(
    all.groups.race!.map((g) => [g.value, g.correct, g.n]),
    [
      ['white', 3, 3],
      ['black', 1, 2],
      ['asian', 0, 1],
    ],
  );
  const adults = await evaluate({ ...base, split: 'train', testFraction: 0, adults: true });
  assert.equal(adults.metrics.n, 4);
  assert.equal(adults.metrics.accuracy, 0.75);
  // Flip TTA: every image becomes a tie (p = 0.5), arg-max picks the first label (woman).
  const tta = await evaluate({ ...base, split: 'train', testFraction: 0, tta: 'flip' });
  assert.deepEqual(tta.metrics.confusion, [
    [3, 0],
    [3, 0],
  ]);
  await assert.rejects(evaluate({ ...base, split: 'train', testFraction: 0, maxBadFraction: 0.1 }), /1 of 7 images are unreadable/);
  // Ensembles average probabilities: two copies agree with one; members with other labels are refused.
  const pair = await evaluate({ ...base, model: [runtime, new LeftBrightRuntime()], split: 'train', testFraction: 0 });
  assert.deepEqual(pair.metrics.confusion, all.metrics.confusion);
  const other = new LeftBrightRuntime();
  (other as { meta: ModelMeta }).meta = { ...other.meta, labels: ['f', 'm'] };
  await assert.rejects(evaluate({ ...base, model: [runtime, other], split: 'train', testFraction: 0 }), /ensemble members disagree on labels/);
  const out = tmpDir();
  await writeReport(all, out);
  for (const f of ['report.json', 'report.txt', 'confusion.txt', 'confusion.png']) assert.ok(fs.existsSync(path.join(out, f)));
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).metrics.correct, 4);
  assert.match(formatReport(all), /ethnic group/);
  const png = await confusionPng(all.metrics.confusion, all.metrics.labels, 'x');
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
});
