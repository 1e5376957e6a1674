import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadDataset } from '../../src/data/load.js';
import { preprocessFace } from '../../src/data/preprocess.js';
import { SampleStore } from '../../src/data/store.js';
import { createRuntime } from '../../src/runtime/factory.js';
import { NO_AUGMENT } from '../../src/train/augment.js';
import { distillTargets, mixTeacherTargets, teachBatch, teacherPerSample } from '../../src/train/distill.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/options.js';
import { train } from '../../src/train/train.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders } from '../data/fixtures.js';

const quiet = { progress: false, log: () => {} };

function opts(data: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    task: 'custom',
    data,
    arch: 'tiny-xception',
    inputSize: 12,
    epochs: 3,
    batchSize: 16,
    schedule: { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 0.002 },
    augment: { ...NO_AUGMENT, flip: true, rotation: 5 },
    workers: 0,
    ...extra,
  };
}

let data: string;
test.before(async () => {
  data = await makeClassFolders(path.join(tmpDir(), 'synthetic'), 120, 12);
});

test('distillation targets: softened teacher probabilities mixed in, row weight kept', async () => {
  const teacher = { run: async (_x: Float32Array, n: number) => new Float32Array(Array.from({ length: n }, () => [0.8, 0.2]).flat()) } as never;
  const y = new Float32Array([1, 0, 0, 2]); // row 2 carries class weight 2
  await distillTargets(teacher, new Float32Array(0), y, 2, 2, 0.5, 2);
  const q0 = Math.sqrt(0.8) / (Math.sqrt(0.8) + Math.sqrt(0.2)); // T = 2
  assert.ok(Math.abs(y[0] - (0.5 + 0.5 * q0)) < 1e-6);
  assert.ok(Math.abs(y[1] - 0.5 * (1 - q0)) < 1e-6);
  assert.ok(Math.abs(y[2] + y[3] - 2) < 1e-6);
});

test("teacherPerSample: one row per store sample, at the teacher's own input, unreadable samples left NaN", async () => {
  const runDir = path.join(tmpDir(), 'teacher-run');
  await train(opts(data, { epochs: 2 }), runDir, quiet);
  const teacher = await createRuntime(path.join(runDir, 'best'), { runtime: 'tfjs' });
  try {
    const ds = await loadDataset(data, { task: 'custom' });
    const missing = path.join(data, 'missing.png');
    const samples = [...ds.splits.val, { id: missing, file: missing, label: 0 }];
    // The student's store is 20x20 RGB; the rows must come from the teacher's 12x12 grey view of each image.
    const p = await teacherPerSample(teacher, new SampleStore(samples, { inputSize: 20, channels: 3 }));
    assert.equal(p.length, samples.length * 2);
    const view = new SampleStore(samples, { inputSize: 12, channels: 1 });
    for (const i of [0, 5, samples.length - 2]) {
      const x = preprocessFace((await view.get(i))!, { inputSize: 12, channels: 1 });
      const q = await teacher.run(x, 1);
      assert.ok(Math.abs(p[i * 2] - q[0]) < 1e-5 && Math.abs(p[i * 2 + 1] - q[1]) < 1e-5, `row ${i}: ${p.subarray(i * 2, i * 2 + 2)} vs ${q}`);
    }
    const right = ds.splits.val.filter((s, i) => (p[i * 2 + 1] > p[i * 2] ? 1 : 0) === s.label).length;
    assert.ok(right >= 0.9 * ds.splits.val.length, `teacher rows agree with ${right} of ${ds.splits.val.length} labels`);
    assert.ok(Number.isNaN(p[(samples.length - 1) * 2]), 'the unreadable sample keeps a NaN row');
  } finally {
    await teacher.dispose();
  }
});

test("mixTeacherTargets: weight 0 keeps the labels, weight 1 takes the teacher's (T = 1: its probabilities)", () => {
  const p = new Float32Array([0.9, 0.1, 0.3, 0.7]);
  const keep = new Float32Array([1, 0, 0, 1]);
  mixTeacherTargets(p, keep, 2, 2, 0, 1);
  assert.deepEqual(Array.from(keep), [1, 0, 0, 1]);
  const take = new Float32Array([1, 0, 0, 1]);
  mixTeacherTargets(p, take, 2, 2, 1, 1);
  assert.ok(
    take.every((v, i) => Math.abs(v - p[i]) < 1e-6),
    `${take}`,
  );
});

test("teachBatch: a per-sample teacher's rows are picked by the batch's store indices; a runtime teacher sees the batch", async () => {
  // Store sample i's teacher row is [i / 10, 1 - i / 10].
  const perSample = new Float32Array(Array.from({ length: 10 }, (_, i) => [i / 10, 1 - i / 10]).flat());
  const y = new Float32Array([1, 0, 1, 0]);
  await teachBatch({ perSample }, { x: new Float32Array(0), y, n: 2, indices: [7, 2] }, 2, { distillWeight: 1, distillTemperature: 1 });
  assert.deepEqual(
    Array.from(y).map((v) => Math.round(v * 100) / 100),
    [0.7, 0.3, 0.2, 0.8],
  );
  const seen: number[] = [];
  const runtime = { run: async (x: Float32Array, n: number) => (seen.push(x.length, n), new Float32Array([0.5, 0.5, 0.5, 0.5])) } as never;
  const y2 = new Float32Array([1, 0, 0, 1]);
  await teachBatch({ runtime }, { x: new Float32Array(6), y: y2, n: 2, indices: [0, 1] }, 2, {});
  assert.deepEqual(seen, [6, 2]);
  // Defaults: weight 0.5, T 2 (a uniform teacher stays uniform at any T).
  assert.deepEqual(Array.from(y2), [0.75, 0.25, 0.25, 0.75]);
});
