import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../src/data/paths.js';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { UserError } from '../../src/errors.js';
import {
  CHECKPOINT_JSON,
  ckptName,
  loadCheckpoint,
  packOptimizerState,
  readCheckpoint,
  readRunConfig,
  saveCheckpoint,
  unpackOptimizerState,
  writeRunConfig,
} from '../../src/train/checkpoint.js';
import { DEFAULT_TRAIN_OPTIONS, modelMetaFor, type TrainOptions } from '../../src/train/options.js';
import { initialMonitor } from '../../src/train/schedule.js';
import { resumeTraining } from '../../src/train/train.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders } from '../data/fixtures.js';

/** A run directory written by the code before the training loop was split into units (tiny-xception, 12x12, 2 epochs). */
const FIXTURE = path.join(projectRoot(), 'test', 'train', 'fixtures', 'run-v1');

test('optimizer state: pack and unpack are inverse; a file of the wrong size is an error naming it', () => {
  const state = { iterations: 7, slots: [new Float32Array([1, 2, 3]), new Float32Array([]), new Float32Array([-4.5, 1e-20])] };
  const { bytes, record } = packOptimizerState(state);
  assert.equal(bytes.byteLength, 20);
  assert.deepEqual(record, { iterations: 7, slotLengths: [3, 0, 2] });
  // A Buffer at an odd offset (pooled buffers need not be 4-byte aligned) unpacks too.
  const pool = Buffer.alloc(bytes.byteLength + 1);
  pool.set(bytes, 1);
  const back = unpackOptimizerState(pool.subarray(1), record, 'x/optimizer.bin');
  assert.equal(back.iterations, 7);
  assert.deepEqual(
    back.slots.map((s) => Array.from(s)),
    state.slots.map((s) => Array.from(s)),
  );
  assert.throws(
    () => unpackOptimizerState(bytes.subarray(4), record, 'x/optimizer.bin'),
    (e: Error) => e instanceof UserError && /checkpoint "x\/optimizer.bin" has 16 bytes, expected 20/.test(e.message),
  );
});

test('saveCheckpoint: folder, optimizer.bin and pointer; older folders go; loadCheckpoint reads them back', async () => {
  await setupBackend();
  const runDir = tmpDir();
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, task: 'custom', data: '/nowhere', arch: 'tiny-xception', inputSize: 12 };
  const model = buildModel('tiny-xception', { inputSize: 12, channels: 1, numClasses: 2 });
  try {
    const meta = modelMetaFor(o, ['a', 'b']);
    const slots = model.trainableWeights.flatMap((w) => [new Float32Array(w.read().size).fill(0.5), new Float32Array(w.read().size).fill(-1)]);
    const history = [{ epoch: 1, lr: 0.01, loss: 1, acc: 0.5, valLoss: 0.9, valAcc: 0.6, seconds: 2 }];
    const monitor = { ...initialMonitor(0.01), bestValLoss: 0.9, bestEpoch: 1 };
    await saveCheckpoint(runDir, { epoch: 1, lr: 0.01, monitor, history, elapsedSeconds: 3 }, model, meta, { iterations: 5, slots });
    await saveCheckpoint(runDir, { epoch: 2, lr: 0.01, monitor, history, elapsedSeconds: 4 }, model, meta, { iterations: 10, slots });
    assert.deepEqual(fs.readdirSync(runDir).sort(), [CHECKPOINT_JSON, ckptName(2)]);
    assert.equal(ckptName(2), 'ckpt-000002');
    const ck = readCheckpoint(runDir)!;
    assert.equal(ck.epoch, 2);
    assert.equal(ck.dir, 'ckpt-000002');
    assert.equal(ck.elapsedSeconds, 4);
    const r = await loadCheckpoint(runDir, ck);
    try {
      assert.equal(r.optimizer.iterations, 10);
      assert.equal(r.optimizer.slots.length, slots.length);
      assert.deepEqual(Array.from(r.optimizer.slots[1].slice(0, 3)), [-1, -1, -1]);
      assert.equal(r.model.countParams(), model.countParams());
    } finally {
      r.model.dispose();
    }
  } finally {
    model.dispose();
  }
  fs.rmSync(path.join(runDir, 'ckpt-000002'), { recursive: true });
  assert.throws(() => readCheckpoint(runDir), /checkpoint folder "ckpt-000002" named by .*checkpoint.json is missing/);
  assert.equal(readCheckpoint(tmpDir()), undefined);
});

test('config.json: written and read back; a folder without one is not a run', () => {
  const dir = tmpDir();
  assert.throws(() => readRunConfig(dir), /is not a training run directory \(no config.json\)/);
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, task: 'custom', data: '/d' };
  writeRunConfig(dir, o);
  assert.deepEqual(readRunConfig(dir), o);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).version, 1);
});

test('a run directory written before the training loop was split into units still resumes', async () => {
  // The fixture's synthetic data is regenerated (same seed, same files) and the run pointed at it.
  const data = await makeClassFolders(path.join(tmpDir(), 'data'), 20, 12);
  const runDir = path.join(tmpDir(), 'run-v1');
  fs.cpSync(FIXTURE, runDir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  cfg.options.data = data;
  fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const before = JSON.parse(fs.readFileSync(path.join(runDir, CHECKPOINT_JSON), 'utf8'));
  const ck = readCheckpoint(runDir)!;
  const r = await loadCheckpoint(runDir, ck);
  r.model.dispose();
  assert.equal(r.optimizer.iterations, before.optimizer.iterations);
  assert.deepEqual(
    r.optimizer.slots.map((s) => s.length),
    before.optimizer.slotLengths,
  );
  const lines: string[] = [];
  const s = await resumeTraining(runDir, { epochs: 3 }, { progress: false, log: (l) => lines.push(l) });
  assert.match(lines.join('\n'), /resuming .* after epoch 2 \(lr 0.002, best val loss 0.0923 at epoch 2\)/);
  assert.equal(s.epochsDone, 3);
  assert.deepEqual(s.history.slice(0, 2), before.history, "the first two epochs are the fixture's");
  const after = JSON.parse(fs.readFileSync(path.join(runDir, CHECKPOINT_JSON), 'utf8'));
  assert.equal(after.epoch, 3);
  assert.equal(after.optimizer.iterations, before.optimizer.iterations + 2, 'Adam continued from the stored step count (32 samples, batch 16)');
  assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort(), 'checkpoint.json keeps its fields');
  assert.deepEqual(
    fs.readdirSync(runDir).filter((f) => f.startsWith('ckpt-')),
    ['ckpt-000003'],
  );
  const log = fs.readFileSync(path.join(runDir, 'log.csv'), 'utf8').trim().split('\n');
  assert.equal(log[0], 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds');
  assert.deepEqual(
    log.slice(1).map((l) => Number(l.split(',')[0])),
    [1, 2, 3],
  );
});
