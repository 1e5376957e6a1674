import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { loadModel } from '../../src/io/model-store.js';
import { NO_AUGMENT } from '../../src/train/augment.js';
import { improves, restoreBest, saveBest, selectionMetric, SELECTION_METRICS, worstValue } from '../../src/train/best-model.js';
import { DEFAULT_TRAIN_OPTIONS, modelMetaFor, type TrainOptions } from '../../src/train/options.js';
import { initialMonitor, observe } from '../../src/train/schedule.js';
import { train } from '../../src/train/train.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders } from '../data/fixtures.js';

const rec = { epoch: 1, lr: 0.1, loss: 1, acc: 0.5, valLoss: 0.7, valAcc: 0.8, seconds: 1 };

test('selection metrics: val_loss lower is better, val_accuracy higher; an unknown name lists the known ones', () => {
  assert.equal(selectionMetric().name, 'val_loss');
  assert.equal(selectionMetric('val_loss').value(rec), 0.7);
  assert.equal(selectionMetric('val_accuracy').value(rec), 0.8);
  assert.deepEqual(Object.keys(SELECTION_METRICS), ['val_loss', 'val_accuracy', 'val_mae']);
  assert.throws(() => selectionMetric('val_f1'), /unknown selection metric "val_f1": choose one of val_loss, val_accuracy, val_mae/);
  const min = selectionMetric('val_loss');
  const max = selectionMetric('val_accuracy');
  assert.equal(worstValue(min), Infinity);
  assert.equal(worstValue(max), -Infinity);
  assert.ok(improves(min, 0.5, worstValue(min)));
  assert.ok(improves(max, 0.01, worstValue(max)));
  assert.ok(improves(min, 0.5, 0.6) && !improves(min, 0.6, 0.5) && !improves(min, 0.59995, 0.6), 'min: strictly lower by min_delta');
  assert.ok(improves(max, 0.6, 0.5) && !improves(max, 0.5, 0.6) && !improves(max, 0.50005, 0.5), 'max: strictly higher by min_delta');
});

test("the monitor follows the metric's direction for the best epoch, early stopping and the plateau", () => {
  const c = { ...DEFAULT_TRAIN_OPTIONS.schedule, patience: 2, epochs: 10 };
  const max = selectionMetric('val_accuracy');
  const m = initialMonitor(c.lr, max);
  const seen = [0.5, 0.7, 0.6, 0.65, 0.9].map((acc, i) => observe(m, i + 1, acc, c, undefined, max));
  assert.deepEqual(
    seen.map((s) => s.improved),
    [true, true, false, false, true],
  );
  assert.equal(seen[3].reducedLr, true, 'two epochs without a higher accuracy reduce the plateau lr');
  assert.deepEqual([m.bestValLoss, m.bestEpoch, m.sinceBest], [0.9, 5, 0]);
  const lossMonitor = initialMonitor(c.lr);
  assert.deepEqual(
    [0.5, 0.7, 0.4].map((v, i) => observe(lossMonitor, i + 1, v, c).improved),
    [true, false, true],
  );
});

test('saveBest replaces best/ whole; restoreBest puts back a best.old left by a crash', async () => {
  await setupBackend();
  const runDir = tmpDir();
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, task: 'custom', data: '/d', arch: 'tiny-xception', inputSize: 12 };
  const model = buildModel('tiny-xception', { inputSize: 12, channels: 1, numClasses: 2 });
  try {
    await saveBest(runDir, model, { ...modelMetaFor(o, ['a', 'b']), training: { epoch: 1 } });
    await saveBest(runDir, model, { ...modelMetaFor(o, ['a', 'b']), training: { epoch: 4 } });
  } finally {
    model.dispose();
  }
  assert.deepEqual(fs.readdirSync(runDir), ['best']);
  const read = async () => {
    const l = await loadModel(path.join(runDir, 'best'));
    l.model.dispose();
    return (l.meta.training as { epoch: number }).epoch;
  };
  assert.equal(await read(), 4);
  fs.renameSync(path.join(runDir, 'best'), path.join(runDir, 'best.old'));
  restoreBest(runDir);
  assert.equal(await read(), 4);
  restoreBest(runDir); // nothing to do
  assert.deepEqual(fs.readdirSync(runDir), ['best']);
});

test('a run selecting by val_accuracy keeps the first epoch of the highest accuracy, not the lowest loss', async () => {
  const data = await makeClassFolders(path.join(tmpDir(), 'synthetic'), 60, 12);
  const o: TrainOptions = {
    ...DEFAULT_TRAIN_OPTIONS,
    task: 'custom',
    data,
    arch: 'tiny-xception',
    inputSize: 12,
    epochs: 4,
    batchSize: 16,
    schedule: { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 0.002 },
    augment: NO_AUGMENT,
    workers: 0,
    preciseBnBatches: 2,
    selectBy: 'val_accuracy',
  };
  const runDir = path.join(tmpDir(), 'by-accuracy');
  const s = await train(o, runDir, { progress: false, log: () => {} });
  const top = Math.max(...s.history.map((h) => h.valAcc));
  const expected = s.history.find((h) => h.valAcc > top - 1e-4)!;
  assert.equal(s.bestEpoch, expected.epoch);
  assert.equal(s.bestValAcc, expected.valAcc);
  assert.equal(s.bestValLoss, expected.valLoss, "the summary reports the best epoch's validation loss");
  const { meta, model } = await loadModel(path.join(runDir, 'best'));
  model.dispose();
  const t = meta.training as { epoch: number; selectedBy?: string };
  assert.equal(t.epoch, expected.epoch);
  assert.equal(t.selectedBy, 'val_accuracy');
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).options.selectBy, 'val_accuracy');
  await assert.rejects(
    train({ ...o, selectBy: 'val_f1' as never }, path.join(tmpDir(), 'bad-metric'), { progress: false, log: () => {} }),
    /unknown selection metric "val_f1"/,
  );
});

test('val_mae (age runs): lower is better, read from the record; a record without it never improves', () => {
  const mae = selectionMetric('val_mae');
  assert.equal(mae.mode, 'min');
  assert.equal(mae.value({ ...rec, valMae: 6.5 }), 6.5);
  assert.ok(Number.isNaN(mae.value(rec)));
  assert.ok(improves(mae, 6.4, 6.5) && !improves(mae, 6.6, 6.5) && !improves(mae, NaN, worstValue(mae)));
  const m = initialMonitor(1e-3, mae);
  const sched = { ...DEFAULT_TRAIN_OPTIONS.schedule, epochs: 5 };
  for (const [epoch, v] of [
    [1, 7],
    [2, 6],
    [3, 6.2],
    [4, 5.9],
  ] as const)
    observe(m, epoch, mae.value({ ...rec, epoch, valMae: v }), sched, undefined, mae);
  assert.equal(m.bestEpoch, 4);
  assert.equal(m.bestValLoss, 5.9);
});
