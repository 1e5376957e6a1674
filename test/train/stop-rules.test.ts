import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { checkStep, checkValidation, earlyStopDue, finalStopReason, stopBeforeEpoch, TrainingDivergedError } from '../../src/train/stop-rules.js';

test('checkStep: finite losses pass; a NaN or infinite loss ends the run naming the epoch, batch and the checkpoint that stands', () => {
  const at = { epoch: 3, batch: 7, runDir: '/runs/r', lastGoodEpoch: 2 };
  checkStep({ loss: 0.5, regularizationLoss: 0.01 }, at);
  assert.throws(
    () => checkStep({ loss: NaN, regularizationLoss: 0 }, at),
    (e: Error) =>
      e instanceof TrainingDivergedError &&
      e instanceof UserError &&
      e.reason === 'diverged' &&
      e.message === 'training diverged: the loss became NaN at epoch 3, batch 7; the last good checkpoint (epoch 2) is kept in /runs/r',
  );
  assert.throws(() => checkStep({ loss: 0.5, regularizationLoss: Infinity }, at), /the loss became 0.5 at epoch 3, batch 7/);
  assert.throws(
    () => checkStep({ loss: Infinity, regularizationLoss: 0 }, { ...at, epoch: 1, lastGoodEpoch: 0 }),
    /loss became Infinity at epoch 1, batch 7; no epoch had completed, so there is no checkpoint/,
  );
});

test('checkValidation: a non-finite validation loss ends the run; the previous epoch stands', () => {
  checkValidation(1.2, 4, '/r');
  assert.throws(
    () => checkValidation(NaN, 4, '/r'),
    (e: Error) =>
      e instanceof TrainingDivergedError && /validation loss is NaN after epoch 4; the last good checkpoint \(epoch 3\) is kept in \/r/.test(e.message),
  );
});

test('early stopping: due after `patience` epochs without improvement; 0 = never', () => {
  assert.equal(earlyStopDue({ sinceBest: 4 }, 5), false);
  assert.equal(earlyStopDue({ sinceBest: 5 }, 5), true);
  assert.equal(earlyStopDue({ sinceBest: 500 }, 0), false);
});

test('stopBeforeEpoch: the time limit when another epoch as long as the last would pass it, then early stopping', () => {
  const now = 1_000_000;
  assert.equal(stopBeforeEpoch(now, 10, now + 20_000, { sinceBest: 0 }, 5), undefined);
  assert.equal(stopBeforeEpoch(now, 30, now + 20_000, { sinceBest: 0 }, 5), 'time-limit');
  assert.equal(stopBeforeEpoch(now, 0, Infinity, { sinceBest: 5 }, 5), 'early-stopping');
  assert.equal(stopBeforeEpoch(now, 30, now + 20_000, { sinceBest: 5 }, 5), 'time-limit');
});

test('finalStopReason: a loop that ran out of epochs as early stopping fell due before the last planned epoch stopped early', () => {
  assert.equal(finalStopReason('completed', { sinceBest: 5 }, 5, 8, 10), 'early-stopping');
  assert.equal(finalStopReason('completed', { sinceBest: 5 }, 5, 10, 10), 'completed');
  assert.equal(finalStopReason('completed', { sinceBest: 2 }, 5, 8, 10), 'completed');
  assert.equal(finalStopReason('completed', { sinceBest: 5 }, 5, undefined, 10), 'completed');
  assert.equal(finalStopReason('time-limit', { sinceBest: 5 }, 5, 8, 10), 'time-limit');
});
