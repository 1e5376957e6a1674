import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, resolveBackendName } from '../../src/engine/backend.js';
import { buildModel, ZOO } from '../../src/framework/index.js';
import { UserError } from '../../src/errors.js';

test('backend is chosen in one place: argument, then env, then wasm', () => {
  const saved = process.env.FACECLS_BACKEND;
  delete process.env.FACECLS_BACKEND;
  assert.equal(resolveBackendName(), 'wasm');
  process.env.FACECLS_BACKEND = 'cpu';
  assert.equal(resolveBackendName(), 'cpu');
  assert.equal(resolveBackendName('wasm'), 'wasm');
  assert.throws(() => resolveBackendName('webgpu'), UserError);
  if (saved === undefined) delete process.env.FACECLS_BACKEND;
  else process.env.FACECLS_BACKEND = saved;
});

test('wasm backend uses SIMD', async () => {
  await setupBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'), true);
});

test('cpu and wasm backends agree within 1e-4 on every zoo model', async () => {
  for (const arch of ZOO) {
    await setupBackend('cpu');
    const m = buildModel(arch.name, { inputSize: 48, numClasses: 7 });
    // Randomise BN statistics so inference-mode batch norm is exercised.
    for (const w of m.weights) {
      if (/moving_(mean|variance)/.test(w.name)) {
        const v = w.name.includes('variance')
          ? tf.randomUniform(w.shape as number[], 0.5, 2, 'float32', 3)
          : tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', 4);
        w.write(v);
      }
    }
    const weights = m.getWeights().map((t) => ({ shape: t.shape, data: t.dataSync().slice() }));
    const xData = tf.randomUniform([3, 48, 48, 1], -1, 1, 'float32', 11).dataSync().slice();
    const cpuOut = tf.tidy(() => (m.predict(tf.tensor(xData, [3, 48, 48, 1])) as tf.Tensor).dataSync().slice());
    m.dispose();
    await setupBackend('wasm');
    const m2 = buildModel(arch.name, { inputSize: 48, numClasses: 7 });
    m2.setWeights(weights.map((w) => tf.tensor(w.data, w.shape)));
    const wasmOut = tf.tidy(() => (m2.predict(tf.tensor(xData, [3, 48, 48, 1])) as tf.Tensor).dataSync().slice());
    m2.dispose();
    let maxDiff = 0;
    for (let i = 0; i < cpuOut.length; i++) maxDiff = Math.max(maxDiff, Math.abs(cpuOut[i] - wasmOut[i]));
    assert.ok(maxDiff <= 1e-4, `${arch.name}: max |cpu - wasm| = ${maxDiff}`);
  }
});
