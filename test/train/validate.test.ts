import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { preprocessFace } from '../../src/data/preprocess.js';
import { SampleStore } from '../../src/data/store.js';
import { preciseBatchNorm, preparedChunks, setModelWeights, validate } from '../../src/train/validate.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders } from '../data/fixtures.js';

async function storeOf(n: number, extra: string[] = []): Promise<SampleStore> {
  const root = await makeClassFolders(path.join(tmpDir(), 'v'), n, 12);
  const files = ['top', 'bottom'].flatMap((c, label) => fs.readdirSync(path.join(root, c)).map((f) => ({ id: f, file: path.join(root, c, f), label })));
  return new SampleStore([...files, ...extra.map((f) => ({ id: f, file: f, label: 0 }))], { inputSize: 12, channels: 1 });
}

test('preparedChunks: readable samples packed in order, unreadable ones left out', async () => {
  const store = await storeOf(3, ['/nowhere/missing.png']);
  const chunks = [];
  for await (const c of preparedChunks(store, 4)) chunks.push(c);
  assert.deepEqual(
    chunks.map((c) => [c.rows, c.end]),
    [
      [[0, 1, 2, 3], 4],
      [[4, 5], 7],
    ],
  );
  const x5 = preprocessFace((await store.get(5))!, { inputSize: 12, channels: 1 });
  assert.deepEqual(Array.from(chunks[1].x.subarray(144, 288)), Array.from(x5));
});

test("validate: mean cross-entropy and accuracy of the model's predictions, as computed by hand", async () => {
  await setupBackend();
  const store = await storeOf(5);
  const model = buildModel('tiny-xception', { inputSize: 12, channels: 1, numClasses: 2 });
  try {
    const r = await validate(model, store, 3);
    let loss = 0;
    let right = 0;
    for (let i = 0; i < store.length; i++) {
      const x = preprocessFace((await store.get(i))!, { inputSize: 12, channels: 1 });
      const p = tf.tidy(() => (model.predict(tf.tensor4d(x, [1, 12, 12, 1])) as tf.Tensor).dataSync());
      const label = store.samples[i].label;
      loss -= Math.log(Math.max(1e-7, p[label]));
      if ((p[1] > p[0] ? 1 : 0) === label) right++;
    }
    assert.equal(r.n, 10);
    assert.ok(Math.abs(r.loss - loss / 10) < 1e-5, `${r.loss} vs ${loss / 10}`);
    assert.equal(r.acc, right / 10);
    // setModelWeights: the trainer's arrays in model.weights order; a wrong count is refused.
    const w = model.weights.map((v) => v.read().dataSync().slice() as Float32Array);
    assert.throws(() => setModelWeights(model, w.slice(1)), /expected \d+ weight arrays, got \d+/);
    setModelWeights(model, w);
  } finally {
    model.dispose();
  }
});

test('preciseBatchNorm: moving statistics re-estimated from training batches, momentum restored', async () => {
  await setupBackend();
  const store = await storeOf(8);
  const model = buildModel('tiny-xception', { inputSize: 12, channels: 1, numClasses: 2 });
  try {
    const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization')! as unknown as { momentum: number; getWeights(): tf.Tensor[] };
    const before = bn.getWeights().map((t) => Array.from(t.dataSync()));
    const momentum = bn.momentum;
    await preciseBatchNorm(model, store, 2, 4, 1);
    const after = bn.getWeights().map((t) => Array.from(t.dataSync()));
    assert.equal(bn.momentum, momentum);
    assert.deepEqual(after.slice(0, 2), before.slice(0, 2), 'gamma and beta untouched');
    assert.notDeepEqual(after[2], before[2], 'moving mean re-estimated');
  } finally {
    model.dispose();
  }
});
