import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import type { ModelMeta } from '../../src/io/model-store.js';
import { createRuntimeGroup, defaultGroupWorkers } from '../../src/runtime/group.js';
import { createRuntimeFromModel, type InferenceRuntime } from '../../src/runtime/index.js';
import { maxAbsDiff, randomInputs, randomiseBatchNorm } from '../io/onnx/helpers.js';
import { testMeta } from '../helpers/meta.js';

const EMOTION = testMeta('emotion', 48, 1, { arch: 'mini-xception' });
const GENDER = testMeta('gender', 32, 3, { arch: 'tiny-xception' });

/** The same random model in both runtimes (onnx copies the weights; tfjs takes the model). */
async function openBoth(meta: ModelMeta, seed: number): Promise<{ onnx: InferenceRuntime; tfjs: InferenceRuntime }> {
  const model = buildModel(meta.arch!, { inputSize: meta.inputSize, channels: meta.channels, numClasses: meta.labels.length });
  randomiseBatchNorm(model, seed);
  const onnx = await createRuntimeFromModel(model, meta, { runtime: 'onnx', maxChunk: 4, workers: 0 });
  return { onnx, tfjs: await createRuntimeFromModel(model, meta, { runtime: 'tfjs' }) };
}

describe('runtime group: emotion + gender in one batched step', () => {
  let onnx: InferenceRuntime[] = [];
  let tfjs: InferenceRuntime[] = [];
  before(async () => {
    await setupBackend('wasm');
    const pairs = [await openBoth(EMOTION, 1), await openBoth(GENDER, 2)];
    onnx = pairs.map((p) => p.onnx);
    tfjs = pairs.map((p) => p.tfjs);
  });
  after(async () => {
    for (const r of [...onnx, ...tfjs]) await r.dispose();
  });

  it('shares faces with worker threads and returns what each model gives alone', async () => {
    const n = 23;
    const batches = [randomInputs(n * 48 * 48, 3), randomInputs(n * 32 * 32 * 3, 4)];
    const alone = [await onnx[0].run(batches[0], n), await onnx[1].run(batches[1], n)];
    const reference = [await tfjs[0].run(batches[0], n), await tfjs[1].run(batches[1], n)];
    for (const workers of [0, 1, 2]) {
      const group = createRuntimeGroup(onnx, { workers });
      try {
        assert.equal(group.workers, workers);
        for (const k of [1, 4, 5, 9, n]) {
          const outs = await group.run(batches, k);
          assert.equal(outs.length, 2);
          assert.equal(outs[0].length, k * 7);
          assert.equal(outs[1].length, k * 2);
          assert.ok(maxAbsDiff(outs[0], alone[0].subarray(0, k * 7)) <= 1e-6, `emotion, ${workers} workers, ${k} faces`);
          assert.ok(maxAbsDiff(outs[1], alone[1].subarray(0, k * 2)) <= 1e-6, `gender, ${workers} workers, ${k} faces`);
          assert.ok(maxAbsDiff(outs[0], reference[0].subarray(0, k * 7)) <= 1e-4, 'onnx matches tfjs');
          assert.ok(maxAbsDiff(outs[1], reference[1].subarray(0, k * 2)) <= 1e-4, 'onnx matches tfjs');
        }
        assert.deepEqual(await group.run(batches, 0), [new Float32Array(0), new Float32Array(0)]);
        await assert.rejects(group.run([batches[0]], 2), RangeError);
        await assert.rejects(group.run(batches, n + 1), /batch 0 holds/);
        await assert.rejects(group.run(batches, -1), RangeError);
      } finally {
        await group.dispose();
      }
    }
  });

  it('runs tfjs runtimes one after the other on the calling thread', async () => {
    const group = createRuntimeGroup(tfjs, { workers: 2 });
    assert.equal(group.workers, 0);
    const batches = [randomInputs(3 * 48 * 48, 5), randomInputs(3 * 32 * 32 * 3, 6)];
    const outs = await group.run(batches, 3);
    assert.ok(maxAbsDiff(outs[0], await tfjs[0].run(batches[0], 3)) <= 1e-6);
    assert.ok(maxAbsDiff(outs[1], await tfjs[1].run(batches[1], 3)) <= 1e-6);
    await group.dispose();
  });

  it('reads FACECLS_ORT_WORKERS and rejects bad values', () => {
    const saved = process.env.FACECLS_ORT_WORKERS;
    try {
      process.env.FACECLS_ORT_WORKERS = '3';
      assert.equal(defaultGroupWorkers(), 3);
      process.env.FACECLS_ORT_WORKERS = 'lots';
      assert.throws(() => defaultGroupWorkers(), /FACECLS_ORT_WORKERS/);
      delete process.env.FACECLS_ORT_WORKERS;
      assert.ok(defaultGroupWorkers() >= 0);
      assert.throws(() => createRuntimeGroup(onnx, { workers: -1 }), RangeError);
    } finally {
      if (saved === undefined) delete process.env.FACECLS_ORT_WORKERS;
      else process.env.FACECLS_ORT_WORKERS = saved;
    }
  });
});
