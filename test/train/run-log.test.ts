import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appendSession, csvLog, epochLine, readSessions, SESSIONS_JSONL, writeEpochLogs, writeTrainingJson } from '../../src/train/run-log.js';
import type { EpochRecord, TrainSummary } from '../../src/train/options.js';
import { readLog } from '../../src/train/run-reader.js';
import { tmpDir } from '../helpers/tmp.js';

const h1: EpochRecord = { epoch: 1, lr: 0.001, loss: 1.5, acc: 0.4, valLoss: 1.25, valAcc: 0.5, seconds: 12.345 };
const h2: EpochRecord = {
  ...h1,
  epoch: 2,
  valSources: [
    { name: 'fer', loss: 1, acc: 0.6, n: 10 },
    { name: 'raf', loss: 1.5, acc: 0.4, n: 20 },
  ],
};

test('log.csv: the fixed columns, seconds to 0.1; per-dataset columns only with several datasets', () => {
  assert.equal(csvLog([h1]), 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.001,1.5,0.4,1.25,0.5,12.3\n');
  assert.equal(csvLog([]), 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n');
  assert.equal(csvLog([h1], ['fer']), csvLog([h1]));
  const multi = csvLog([h1, h2], ['fer', 'raf']).trim().split('\n');
  assert.equal(multi[0], 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds,val_loss_fer,val_accuracy_fer,val_loss_raf,val_accuracy_raf');
  assert.equal(multi[1], '1,0.001,1.5,0.4,1.25,0.5,12.3,,,,', 'an epoch without per-dataset figures leaves their cells empty');
  assert.equal(multi[2], '2,0.001,1.5,0.4,1.25,0.5,12.3,1,0.6,1.5,0.4');
});

test('writeEpochLogs: log.csv and the two PNG curves', async () => {
  const dir = tmpDir();
  await writeEpochLogs(dir, [h1, { ...h1, epoch: 2, loss: 1.2 }], []);
  assert.equal(fs.readFileSync(path.join(dir, 'log.csv'), 'utf8'), csvLog([h1, { ...h1, epoch: 2, loss: 1.2 }]));
  for (const f of ['loss.png', 'accuracy.png']) assert.equal(fs.readFileSync(path.join(dir, f)).subarray(1, 4).toString(), 'PNG', f);
});

test('sessions.jsonl: one line per session; lines cut by a crash are skipped', () => {
  const dir = tmpDir();
  assert.deepEqual(readSessions(dir), []);
  const s1 = { started: '2026-01-01T00:00:00.000Z', resumed: false, fromEpoch: 0, workers: null, backend: 'wasm' };
  const s2 = { ...s1, started: '2026-01-02T00:00:00.000Z', resumed: true, fromEpoch: 3, workers: 2 };
  appendSession(dir, s1);
  fs.appendFileSync(path.join(dir, SESSIONS_JSONL), '{"started":"2026-01-01T0\n');
  appendSession(dir, s2);
  assert.deepEqual(readSessions(dir), [s1, s2]);
});

test('training.json: the summary without the per-epoch history', () => {
  const dir = tmpDir();
  const summary: TrainSummary = {
    runDir: dir,
    stopReason: 'completed',
    epochsDone: 1,
    bestEpoch: 1,
    bestValLoss: 1.25,
    bestValAcc: 0.5,
    history: [h1],
    skipped: { count: 0, examples: [] },
    seconds: 13,
  };
  writeTrainingJson(dir, summary);
  const back = JSON.parse(fs.readFileSync(path.join(dir, 'training.json'), 'utf8'));
  assert.deepEqual(back, {
    runDir: dir,
    stopReason: 'completed',
    epochsDone: 1,
    bestEpoch: 1,
    bestValLoss: 1.25,
    bestValAcc: 0.5,
    skipped: { count: 0, examples: [] },
    seconds: 13,
  });
});

test('epochLine: train and validation figures, lr, timing; per-dataset figures, best and lr changes when they apply', () => {
  assert.equal(
    epochLine(h1, { epochs: 10, trainSeconds: 10, batches: 4, multi: false, improved: false }),
    'epoch 1/10: loss 1.5000 acc 0.4000 | val loss 1.2500 acc 0.5000 | lr 0.00100 | 12s (train 10s, 2500 ms/batch)',
  );
  assert.equal(
    epochLine(h2, { epochs: 10, trainSeconds: 10, batches: 4, multi: true, improved: true, reducedTo: 0.0001 }),
    'epoch 2/10: loss 1.5000 acc 0.4000 | val loss 1.2500 acc 0.5000 | lr 0.00100 | 12s (train 10s, 2500 ms/batch) | fer 1.0000 / 0.6000, raf 1.5000 / 0.4000 | best | lr -> 0.000100',
  );
});

test('age runs: val_mae as the last log.csv column, mae.png, MAE in the epoch line; ship reads the column back', async () => {
  const a1: EpochRecord = { ...h1, valMae: 7.25 };
  const a2: EpochRecord = { ...h1, epoch: 2, valMae: 6.5 };
  assert.equal(
    csvLog([a1, a2]),
    'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds,val_mae\n1,0.001,1.5,0.4,1.25,0.5,12.3,7.25\n2,0.001,1.5,0.4,1.25,0.5,12.3,6.5\n',
  );
  const dir = tmpDir();
  await writeEpochLogs(dir, [a1, a2], []);
  assert.equal(fs.readFileSync(path.join(dir, 'mae.png')).subarray(1, 4).toString(), 'PNG');
  assert.deepEqual(
    readLog(path.join(dir, 'log.csv')).map((r) => r.valMae),
    [7.25, 6.5],
  );
  assert.match(epochLine(a2, { epochs: 3, trainSeconds: 1, batches: 1, multi: false, improved: true }), /val loss 1\.2500 acc 0\.5000 MAE 6\.500 \|/);
  const plain = tmpDir();
  await writeEpochLogs(plain, [h1], []);
  assert.ok(!fs.existsSync(path.join(plain, 'mae.png')), 'no MAE plot for classifiers');
});
