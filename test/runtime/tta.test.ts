import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { preprocessFace, type RawImage } from '../../src/data/preprocess.js';
import { setupBackend } from '../../src/engine/backend.js';
import { UserError } from '../../src/errors.js';
import { buildModel } from '../../src/framework/zoo.js';
import type { ModelMeta } from '../../src/io/model-store.js';
import { createRuntimeGroup } from '../../src/runtime/group.js';
import { createRuntimeFromModel, type InferenceRuntime } from '../../src/runtime/index.js';
import { averageMirrors, resolveTta, withMirrors } from '../../src/runtime/tta.js';
import { maxAbsDiff, randomInputs, randomiseBatchNorm } from '../io/onnx/helpers.js';
import { testMeta } from '../helpers/meta.js';

const EMOTION = testMeta('emotion', 48, 1, { arch: 'mini-xception' });
const GENDER = testMeta('gender', 32, 3, { arch: 'tiny-xception' });

/** Mirror by definition: pixel (y, x) of the mirror is pixel (y, s - 1 - x). */
function mirrorNaive(x: Float32Array, n: number, s: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < s; y++)
      for (let xx = 0; xx < s; xx++) for (let k = 0; k < c; k++) out[((i * s + y) * s + (s - 1 - xx)) * c + k] = x[((i * s + y) * s + xx) * c + k];
  return out;
}

describe('flip test-time augmentation in the runtimes', () => {
  const open: InferenceRuntime[] = [];
  const models: Record<string, ReturnType<typeof buildModel>> = {};
  before(async () => {
    await setupBackend('wasm');
    for (const [meta, seed] of [
      [EMOTION, 1],
      [GENDER, 2],
    ] as const) {
      const m = buildModel(meta.arch!, { inputSize: meta.inputSize, channels: meta.channels, numClasses: meta.labels.length });
      randomiseBatchNorm(m, seed);
      models[meta.task] = m;
    }
  });
  after(async () => {
    for (const r of open) await r.dispose();
    for (const m of Object.values(models)) m.dispose();
  });
  const rt = async (meta: ModelMeta, opts: Parameters<typeof createRuntimeFromModel>[2]) => {
    const r = await createRuntimeFromModel(models[meta.task], meta, opts);
    // The tfjs runtime would take ownership of the shared model: keep it open until after().
    if (r.name === 'onnx') open.push(r);
    return r;
  };

  it('withMirrors appends each face mirrored; it equals preprocessFace(..., { flip: true })', () => {
    const x = randomInputs(3 * 5 * 5 * 3, 9);
    const m = withMirrors(x, 3, 5, 3);
    assert.deepEqual(m.subarray(0, x.length), x);
    assert.deepEqual(m.subarray(x.length), mirrorNaive(x, 3, 5, 3));
    const img: RawImage = { width: 37, height: 29, channels: 1, data: Uint8Array.from({ length: 37 * 29 }, (_, i) => (i * 7919) % 251) };
    const a = new Float32Array(48 * 48);
    const b = new Float32Array(48 * 48);
    preprocessFace(img, { inputSize: 48, channels: 1, box: [3, 2, 30, 25] }, a, 0);
    preprocessFace(img, { inputSize: 48, channels: 1, box: [3, 2, 30, 25], flip: true }, b, 0);
    assert.deepEqual(withMirrors(a, 1, 48, 1).subarray(48 * 48), b);
    assert.deepEqual(averageMirrors(Float32Array.of(1, 0, 0, 1), 1, 2), Float32Array.of(0.5, 0.5));
    assert.throws(() => averageMirrors(new Float32Array(3), 1, 2), /expected 4 values/);
  });

  it('resolveTta: option, else the model metadata, else none; bad values are errors naming the source', () => {
    assert.equal(resolveTta(undefined, {}), 'none');
    assert.equal(resolveTta(undefined, { tta: 'flip' }), 'flip');
    assert.equal(resolveTta('none', { tta: 'flip' }), 'none');
    assert.throws(
      () => resolveTta('rotate', {}),
      (e: unknown) => e instanceof UserError && /^tta must be one of none, flip, got "rotate"$/.test(e.message),
    );
    assert.throws(() => resolveTta(undefined, { tta: 'sideways' as 'flip' }), /metadata's tta/);
  });

  it('a model whose metadata says flip is run on each face and its mirror, averaged, by onnx and tfjs alike', async () => {
    const n = 6;
    const x = randomInputs(n * 48 * 48, 4);
    const flipMeta = { ...EMOTION, tta: 'flip' as const };
    const plain = await rt(EMOTION, { runtime: 'onnx', workers: 0 });
    const onnx = await rt(flipMeta, { runtime: 'onnx', workers: 0, maxChunk: 4 });
    const onnxWorkers = await rt(flipMeta, { runtime: 'onnx', workers: 1, maxChunk: 2 });
    const forced = await rt(flipMeta, { runtime: 'onnx', workers: 0, tta: 'none' });
    const tfjs = await rt(flipMeta, { runtime: 'tfjs' });
    assert.deepEqual([plain.tta, onnx.tta, forced.tta, tfjs.tta], ['none', 'flip', 'none', 'flip']);
    const a = await plain.run(x, n);
    const b = await plain.run(mirrorNaive(x, n, 48, 1), n);
    const want = a.map((v, i) => (v + b[i]) / 2);
    assert.ok(maxAbsDiff(a, want) > 1e-3, 'the random model is not mirror-symmetric (else this test proves nothing)');
    assert.ok(maxAbsDiff(await onnx.run(x, n), want) <= 1e-6);
    assert.ok(maxAbsDiff(await onnxWorkers.run(x, n), want) <= 1e-6);
    assert.ok(maxAbsDiff(await forced.run(x, n), a) <= 1e-6);
    assert.ok(maxAbsDiff(await tfjs.run(x, n), want) <= 1e-4);
    assert.equal((await onnx.run(x, 0)).length, 0);
  });

  it('a runtime group mixes models with and without flip TTA, on worker threads too', async () => {
    const n = 9;
    const batches = [randomInputs(n * 48 * 48, 5), randomInputs(n * 32 * 32 * 3, 6)];
    const emotion = await rt({ ...EMOTION, tta: 'flip' }, { runtime: 'onnx', workers: 0 });
    const gender = await rt(GENDER, { runtime: 'onnx', workers: 0 });
    const alone = [await emotion.run(batches[0], n), await gender.run(batches[1], n)];
    for (const workers of [0, 1]) {
      const group = createRuntimeGroup([emotion, gender], { workers });
      try {
        for (const k of [1, 5, n]) {
          const outs = await group.run(batches, k);
          assert.ok(maxAbsDiff(outs[0], alone[0].subarray(0, k * 7)) <= 1e-6, `emotion (flip), ${workers} workers, ${k} faces`);
          assert.ok(maxAbsDiff(outs[1], alone[1].subarray(0, k * 2)) <= 1e-6, `gender (no TTA), ${workers} workers, ${k} faces`);
        }
      } finally {
        await group.dispose();
      }
    }
  });
});
