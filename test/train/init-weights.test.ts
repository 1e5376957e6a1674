import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/index.js';
import { LUMA_WEIGHTS } from '../../src/data/preprocess.js';
import { planInit } from '../../src/train/init-weights.js';
import { maxAbsDiff } from '../io/onnx/helpers.js';

await setupBackend('cpu');

/** Randomise batch-norm statistics too, so the checks below cover every weight kind. */
function randomised(m: tf.LayersModel, seed: number): tf.LayersModel {
  m.setWeights(m.weights.map((w, i) => tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', seed + i)));
  return m;
}

function init(source: tf.LayersModel, target: tf.LayersModel, labelsDiffer: boolean): string[] {
  const plan = planInit(source, target, labelsDiffer);
  if (typeof plan === 'string') throw new Error(plan);
  target.setWeights(plan.weights);
  tf.dispose(plan.created);
  return plan.adaptations;
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => maxAbsDiff(a.dataSync(), b.dataSync());

test('grey -> RGB: on any image the RGB network computes what the grey one computes on its luma', () => {
  // Weights do not depend on the input size (fully convolutional); the comparison needs one size.
  const grey = randomised(buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 2 }), 1);
  const rgb = buildModel('mini-xception', { inputSize: 64, channels: 3, numClasses: 2 });
  const before = tf.memory().numTensors;
  assert.deepEqual(init(grey, rgb, false), ['first convolution grey -> RGB (kernel split by the BT.601 luma weights)']);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
  const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 7);
  const luma = tf.tidy(() => x.mul(tf.tensor1d([...LUMA_WEIGHTS])).sum(3, true));
  const [a, b] = [rgb.predict(x) as tf.Tensor, grey.predict(luma) as tf.Tensor];
  assert.ok(maxDiff(a, b) < 1e-4, `outputs differ by ${maxDiff(a, b)}`);
  // Back again: the grey network from the RGB one sees a grey image as R = G = B.
  const grey2 = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 2 });
  assert.deepEqual(init(rgb, grey2, false), ['first convolution RGB -> grey (kernel summed over R, G, B)']);
  const c = grey2.predict(luma) as tf.Tensor;
  assert.ok(maxDiff(c, b) < 1e-4, `grey round trip differs by ${maxDiff(c, b)}`);
  tf.dispose([x, luma, a, b, c]);
  for (const m of [grey, rgb, grey2]) m.dispose();
});

test('other labels: every weight but the classifier is copied, the classifier keeps its fresh initialisation', () => {
  const src = randomised(buildModel('tiny-xception', { inputSize: 32, channels: 1, numClasses: 7 }), 3);
  const dst = buildModel('tiny-xception', { inputSize: 32, channels: 1, numClasses: 2 });
  const head = dst.layers.filter((l) => l.weights.length > 0).at(-1)!;
  const freshHead = head.getWeights().map((w) => w.clone());
  assert.deepEqual(init(src, dst, true), [`classifier ${head.name} starts fresh (other labels)`]);
  head.getWeights().forEach((w, i) => assert.equal(maxDiff(w, freshHead[i]), 0));
  const copied = dst.weights.map((w, i) => [w.read(), src.weights[i].read()] as const).filter(([w]) => !head.weights.some((h) => h.read() === w));
  assert.equal(copied.length, dst.weights.length - 2);
  for (const [w, s] of copied) assert.equal(maxDiff(w, s), 0);
  tf.dispose(freshHead);
  // The same labels keep the classifier too; a different class count then cannot be copied.
  assert.match(String(planInit(src, dst, false)), /its weight \S+ has shape \[3,3,\d+,7\], the run's model needs \[3,3,\d+,2\]/);
  src.dispose();
  dst.dispose();
});

test('another architecture cannot start the run', () => {
  const tiny = buildModel('tiny-xception', { inputSize: 32, channels: 1, numClasses: 2 });
  const mini = buildModel('mini-xception', { inputSize: 32, channels: 1, numClasses: 2 });
  const simple = buildModel('simple-cnn', { inputSize: 32, channels: 1, numClasses: 2 });
  assert.match(String(planInit(tiny, mini, false)), /its weight \S+ has shape \[3,3,1,5\], the run's model needs \[3,3,1,8\]/);
  assert.match(String(planInit(simple, mini, true)), /its weights do not match \(\d+ tensors, the run's model has \d+\)/);
  for (const m of [tiny, mini, simple]) m.dispose();
});
