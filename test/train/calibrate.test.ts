import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { balancedLogitOffset, foldLogitOffsets } from '../../src/train/calibrate.js';

await setupBackend('cpu');

test('the balancing offset equalises per-class recall on skewed probabilities, and keeps 0 when nothing gains', () => {
  // Class 1 is favoured: every class-0 sample has p1 = 0.6 (misclassified), class-1 samples p1 = 0.9.
  const labels = [0, 0, 0, 0, 1, 1, 1, 1];
  const values = Float32Array.from(labels.flatMap((l) => (l === 0 ? [0.4, 0.6] : [0.1, 0.9])));
  const r = balancedLogitOffset({ labels, views: 1, values }, 2);
  assert.deepEqual(r.before.recalls, [0, 1]);
  assert.deepEqual(r.after.recalls, [1, 1]);
  // The smallest |offset| that moves 0.6 below 0.5: ln(0.4/0.6) = -0.405 -> -0.41.
  assert.equal(r.offsets[0], 0);
  assert.equal(r.offsets[1], -0.41);
  // Two views (TTA): the offset applies to each view before averaging.
  const two = Float32Array.from(labels.flatMap((l) => (l === 0 ? [0.45, 0.55, 0.3, 0.7] : [0.1, 0.9, 0.2, 0.8])));
  const t = balancedLogitOffset({ labels, views: 2, values: two }, 2);
  assert.equal(t.after.balancedAccuracy, 1);
  // Already balanced and perfect: no offset.
  const ok = Float32Array.from(labels.flatMap((l) => (l === 0 ? [0.8, 0.2] : [0.2, 0.8])));
  assert.deepEqual(balancedLogitOffset({ labels, views: 1, values: ok }, 2).offsets, [0, 0]);
  assert.throws(() => balancedLogitOffset({ labels, views: 1, values: ok }, 3), /two-class/);
  assert.throws(() => balancedLogitOffset({ labels: [1, 1], views: 1, values: Float32Array.of(0.2, 0.8, 0.3, 0.7) }, 2), /both classes/);
});

test('parity equalises the two recalls where balanced accuracy would leave them apart', () => {
  // Class 0: one sample at p1 = 0.6 (wrong at offset 0); class 1: two samples just above 0.5.
  // Offset 0: recalls [0.75, 1] (balanced 0.875), the accuracy optimum. Recalls meet only at
  // [0.75, 0.75], for offsets that flip 0.515 (log-odds 0.060) but not 0.53 (0.120): -0.07 .. -0.12.
  const labels = [0, 0, 0, 0, 1, 1, 1, 1];
  const p1 = [0.1, 0.2, 0.3, 0.6, 0.9, 0.8, 0.53, 0.515];
  const values = Float32Array.from(p1.flatMap((p) => [1 - p, p]));
  const acc = balancedLogitOffset({ labels, views: 1, values }, 2, 'accuracy');
  assert.deepEqual(acc.offsets, [0, 0]);
  assert.deepEqual(acc.after.recalls, [0.75, 1]);
  const par = balancedLogitOffset({ labels, views: 1, values }, 2, 'parity');
  assert.deepEqual(par.after.recalls, [0.75, 0.75]);
  assert.equal(par.offsets[1], -0.07, 'the zero-gap offset closest to 0');
  assert.equal(par.after.balancedAccuracy, 0.75);
  assert.deepEqual(par.before, acc.before);
  // When the recalls can meet with no loss, parity and accuracy agree.
  const easy = Float32Array.from([0.1, 0.2, 0.3, 0.6, 0.9, 0.8, 0.7, 0.65].flatMap((p) => [1 - p, p]));
  const e = balancedLogitOffset({ labels, views: 1, values: easy }, 2, 'parity');
  assert.deepEqual(e.after.recalls, [1, 1]);
  assert.deepEqual(e.offsets, balancedLogitOffset({ labels, views: 1, values: easy }, 2, 'accuracy').offsets);
});

test('folding offsets into the logit conv bias scales each class probability by e^offset', () => {
  const m = buildModel('tiny-xception', { inputSize: 16, channels: 1, numClasses: 2 });
  const x = tf.randomUniform([5, 16, 16, 1], -1, 1, 'float32', 3);
  const before = (m.predict(x) as tf.Tensor).arraySync() as number[][];
  foldLogitOffsets(m, [0, 0.7]);
  const after = (m.predict(x) as tf.Tensor).arraySync() as number[][];
  before.forEach(([a, b], i) => {
    const expected = (b * Math.exp(0.7)) / (a + b * Math.exp(0.7));
    assert.ok(Math.abs(after[i][1] - expected) < 1e-5, `sample ${i}: ${after[i][1]} vs ${expected}`);
  });
  assert.throws(() => foldLogitOffsets(m, [0, 1, 2]), /2 outputs, 3 offsets/);
  // A model whose logits pass through a non-linearity cannot be shifted this way.
  const inp = tf.input({ shape: [4] });
  const d = tf.layers.dense({ units: 2, activation: 'relu' }).apply(inp) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax' }).apply(d) as tf.SymbolicTensor;
  const bad = tf.model({ inputs: inp, outputs: out });
  assert.throws(() => foldLogitOffsets(bad, [0, 1]), /cannot fold logit offsets into this model: its output path is Activation <- Dense/);
  tf.dispose([x]);
  m.dispose();
  bad.dispose();
});
