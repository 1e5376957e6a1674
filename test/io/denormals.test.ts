import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/index.js';
import { FLOAT32_MIN_NORMAL, flushDenormals } from '../../src/io/denormals.js';
import { loadModel, saveModel } from '../../src/io/model-store.js';
import { GraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { tmpDir } from '../helpers/tmp.js';
import { testMeta } from '../helpers/meta.js';

await setupBackend('cpu');

test('flushDenormals zeroes exactly the subnormal float32 values', () => {
  const tiny = new Float32Array([FLOAT32_MIN_NORMAL / 2])[0];
  assert.ok(tiny > 0 && tiny < FLOAT32_MIN_NORMAL, 'the fixture is a float32 denormal');
  const v = new Float32Array([0, 1, -1, FLOAT32_MIN_NORMAL, -FLOAT32_MIN_NORMAL, tiny, -tiny, 1e-45, 3e-30]);
  assert.equal(flushDenormals(v), 3);
  assert.deepEqual(Array.from(v), Array.from(new Float32Array([0, 1, -1, FLOAT32_MIN_NORMAL, -FLOAT32_MIN_NORMAL, 0, 0, 0, 3e-30])));
});

test('saveModel writes denormal weights as zero and leaves the live model untouched', async () => {
  const m = buildModel('tiny-xception', { inputSize: 16, channels: 1, numClasses: 2 });
  const ws = m.getWeights();
  const first = ws[0].dataSync().slice() as Float32Array;
  first[0] = 1e-40;
  first[1] = -2e-39;
  first[2] = 0.25;
  const replaced = tf.tensor(first, ws[0].shape);
  m.setWeights([replaced, ...ws.slice(1)]);
  const out = path.join(tmpDir(), 'denormal-model');
  await saveModel(m, out, testMeta('gender', 16, 1));
  const live = m.getWeights()[0].dataSync();
  assert.ok(live[0] > 0 && live[0] < FLOAT32_MIN_NORMAL, 'live weight still denormal');
  const loaded = await loadModel(out);
  const saved = loaded.model.getWeights()[0].dataSync();
  assert.equal(saved[0], 0);
  assert.equal(Object.is(saved[1], -0) || saved[1] === 0, true);
  assert.equal(saved[2], 0.25);
  // Every other weight is byte-identical.
  const a = m
    .getWeights()
    .slice(1)
    .map((w) => Array.from(w.dataSync()));
  const b = loaded.model
    .getWeights()
    .slice(1)
    .map((w) => Array.from(w.dataSync()));
  assert.deepEqual(b, a);
  assert.ok(fs.existsSync(path.join(out, 'weights.bin')));
  replaced.dispose();
  m.dispose();
  loaded.model.dispose();
});

test('ONNX float initializers are written with denormals flushed', () => {
  const g = new GraphBuilder();
  g.addInitializer('w', [3], new Float32Array([1e-40, 0.5, -1e-39]));
  const proto = g.toProto('t', [], []) as { initializer: Array<{ rawData: Uint8Array }> };
  const raw = proto.initializer[0].rawData;
  const back = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  assert.deepEqual(Array.from(back), [0, 0.5, 0]);
});
