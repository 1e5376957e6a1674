import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel, ZOO } from '../../src/framework/zoo.js';
import { depthwiseGradPolicy } from '../../src/viz/graph.js';
import { graphScores, inputGradients, releaseSaliency, saliencyMaps, saliencyTensors, SALIENCY_METHODS } from '../../src/viz/saliency.js';

/**
 * Tiny net with known weights on a 2x2x1 input:
 *   h = ReLU(1x1 conv: [x, -x, x - 0.5])  ->  logits = GAP(1x1 conv: class0 = h0 - h1 + 2 h2, class1 = 0)
 * so class0 = mean(x) + 2 mean(ReLU(x - 0.5)). By hand, per pixel (1/4 from the average pool):
 *   plain  d/dx = 1/4 ([x > 0] + [x < 0] + 2 [x > 0.5])
 *   guided d/dx = 1/4 ([x > 0] + 2 [x > 0.5])   (h1's incoming gradient -1/4 is negative: blocked)
 */
function tinyNet(): tf.LayersModel {
  const inp = tf.input({ shape: [2, 2, 1] });
  const c1 = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: true, name: 'c1' });
  let x = c1.apply(inp) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const head = tf.layers.conv2d({ filters: 2, kernelSize: 1, useBias: true, name: 'head' });
  x = head.apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: out });
  c1.setWeights([tf.tensor4d([1, -1, 1], [1, 1, 1, 3]), tf.tensor1d([0, 0, -0.5])]);
  head.setWeights([tf.tensor4d([1, 0, -1, 0, 2, 0], [1, 1, 3, 2]), tf.tensor1d([0, 0])]);
  return model;
}

test('guided back-propagation equals the hand-computed reference and differs from plain gradients where gating applies', async () => {
  await setupBackend();
  const model = tinyNet();
  const xs = [-1, -0.2, 0.3, 0.8];
  const guided = inputGradients(model, new Float32Array(xs), { guided: true, classIndex: 0 });
  const plain = inputGradients(model, new Float32Array(xs), { guided: false, classIndex: 0 });
  const g = Array.from(guided.dataSync());
  const p = Array.from(plain.dataSync());
  const refGuided = xs.map((v) => 0.25 * (Number(v > 0) + 2 * Number(v > 0.5)));
  const refPlain = xs.map((v) => 0.25 * (Number(v > 0) + Number(v < 0) + 2 * Number(v > 0.5)));
  g.forEach((v, i) => assert.ok(Math.abs(v - refGuided[i]) < 1e-6, `guided[${i}] = ${v}, expected ${refGuided[i]}`));
  p.forEach((v, i) => assert.ok(Math.abs(v - refPlain[i]) < 1e-6, `plain[${i}] = ${v}, expected ${refPlain[i]}`));
  // They differ exactly at the negative pixels, where only the incoming-gradient gate blocks.
  assert.deepEqual(
    g.map((v, i) => Math.abs(v - p[i]) > 1e-6),
    xs.map((v) => v < 0),
  );
  guided.dispose();
  plain.dispose();
  model.dispose();
});

function randomInput(n: number, size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n * size * size);
  for (let i = 0; i < out.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

test('the layer-by-layer walk reproduces predict() for every zoo architecture', async () => {
  await setupBackend();
  for (const arch of ZOO) {
    const size = arch.name === 'big-xception' ? 40 : 48;
    const model = buildModel(arch.name, { inputSize: size, numClasses: 7 });
    const x = randomInput(2, size, 7);
    const before = tf.memory().numTensors;
    tf.dispose(graphScores(model, x)); // builds the per-model cache
    const probs = graphScores(model, x, 'probability');
    const logits = graphScores(model, x, 'logit');
    const ref = tf.tidy(() => model.predict(tf.tensor4d(x, [2, size, size, 1])) as tf.Tensor);
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(probs, ref))).dataSync()[0]);
    const d2 = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.softmax(logits), ref))).dataSync()[0]);
    assert.ok(d < 1e-5 && d2 < 1e-5, `${arch.name}: walk differs from predict by ${d} / ${d2}`);
    tf.dispose([probs, logits, ref]);
    releaseSaliency(model);
    assert.equal(tf.memory().numTensors, before, `${arch.name}: tensors leaked`);
    model.dispose();
  }
});

test('every method works on every zoo architecture: crop-shaped, in [0, 1], deterministic, leak-free', async () => {
  await setupBackend();
  for (const arch of ZOO) {
    const size = arch.name === 'big-xception' ? 40 : 48;
    const model = buildModel(arch.name, { inputSize: size, numClasses: 7 });
    const x = randomInput(2, size, 11);
    const initial = tf.memory().numTensors;
    for (const method of SALIENCY_METHODS) {
      saliencyMaps(model, x, { method });
      const before = tf.memory().numTensors;
      const a = saliencyMaps(model, x, { method });
      const b = saliencyMaps(model, x, { method });
      assert.equal(tf.memory().numTensors, before, `${arch.name}/${method}: tensors leaked`);
      assert.equal(a.maps.length, 2);
      assert.equal(a.width, size);
      assert.equal(a.height, size);
      for (let i = 0; i < 2; i++) {
        assert.equal(a.maps[i].length, size * size);
        assert.deepEqual(a.maps[i], b.maps[i], `${arch.name}/${method}: not deterministic`);
        let mx = 0;
        for (const v of a.maps[i]) {
          assert.ok(v >= 0 && v <= 1 + 1e-6, `${arch.name}/${method}: value ${v} outside [0, 1]`);
          mx = Math.max(mx, v);
        }
        assert.ok(mx === 0 || Math.abs(mx - 1) < 1e-5, `${arch.name}/${method}: max ${mx}`);
        const pred = a.probabilities[i].indexOf(Math.max(...a.probabilities[i]));
        assert.equal(a.classIndex[i], pred);
      }
      if (method !== 'guided') assert.ok(a.camLayer, 'cam layer reported');
    }
    releaseSaliency(model);
    assert.equal(tf.memory().numTensors, initial, `${arch.name}: cached weights not released`);
    model.dispose();
  }
});

test('the custom depthwise input gradient equals the native one (cpu reference, and wasm with the engine kernels)', async () => {
  for (const backend of ['cpu', 'wasm']) {
    await setupBackend(backend);
    const model = buildModel('mini-xception', { inputSize: 48, numClasses: 7 });
    const x = randomInput(1, 48, 3);
    try {
      depthwiseGradPolicy.mode = 'native';
      const native = inputGradients(model, x, { guided: true });
      depthwiseGradPolicy.mode = 'custom';
      const custom = inputGradients(model, x, { guided: true });
      const scale = tf.tidy(() => tf.max(tf.abs(native)).dataSync()[0]);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(native, custom))).dataSync()[0]);
      assert.ok(scale > 0);
      assert.ok(diff <= 1e-4 * scale, `${backend}: custom vs native depthwise gradient differ by ${diff} (scale ${scale})`);
      tf.dispose([native, custom]);
    } finally {
      depthwiseGradPolicy.mode = 'auto';
      releaseSaliency(model);
      model.dispose();
    }
  }
  await setupBackend();
});

/**
 * A network whose last feature map responds to bright image regions: 16x16 input ->
 * A = ReLU(3x3 mean filter - 0.5) -> 2x2 max pool (8x8 map) -> head 1x1 conv (class0 = A, class1 = -A)
 * -> GAP -> softmax. With one bright 4x4 patch, Grad-CAM for class 0 must peak on the patch.
 */
function regionNet(): tf.LayersModel {
  const inp = tf.input({ shape: [16, 16, 1] });
  const feat = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', name: 'feat' });
  let x = feat.apply(inp) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: 'feat_relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  const head = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'head' });
  x = head.apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: out });
  feat.setWeights([tf.fill([3, 3, 1, 1], 1 / 9) as tf.Tensor4D, tf.tensor1d([-0.5])]);
  head.setWeights([tf.tensor4d([1, -1], [1, 1, 1, 2]), tf.tensor1d([0, 0])]);
  return model;
}

test('Grad-CAM of a network whose last feature map responds to one region peaks there', async () => {
  await setupBackend();
  const model = regionNet();
  const img = new Float32Array(16 * 16).fill(-1);
  for (let y = 10; y < 14; y++) for (let x = 2; x < 6; x++) img[y * 16 + x] = 1;
  for (const method of ['gradcam', 'guided-gradcam', 'guided'] as const) {
    const r = saliencyMaps(model, img, { method, classIndex: 0 });
    const m = r.maps[0];
    let best = 0;
    for (let i = 1; i < m.length; i++) if (m[i] > m[best]) best = i;
    const [by, bx] = [Math.floor(best / 16), best % 16];
    assert.ok(by >= 9 && by <= 14 && bx >= 1 && bx <= 6, `${method}: peak at (${by}, ${bx}), outside the bright patch`);
    // Far from the patch (top-right quadrant) the map is zero.
    for (let y = 0; y < 6; y++) for (let x = 10; x < 16; x++) assert.ok(m[y * 16 + x] < 1e-6, `${method}: map ${m[y * 16 + x]} at (${y}, ${x})`);
    if (method !== 'guided') assert.match(r.camLayer ?? '', /^max_pooling2d/, 'CAM on the map entering the head conv');
  }
  // For the other class the CAM is ReLU(-A) = 0 everywhere: an all-zero map, not NaN.
  const other = saliencyMaps(model, img, { method: 'gradcam', classIndex: 1 });
  assert.ok(other.maps[0].every((v) => v === 0));
  model.dispose();
});

test('saliency rejects bad inputs with clear errors and leaks nothing', async () => {
  await setupBackend();
  const model = tinyNet();
  saliencyMaps(model, new Float32Array(4), { method: 'guided' });
  const before = tf.memory().numTensors;
  assert.throws(() => saliencyMaps(model, new Float32Array(5), { method: 'guided' }), /multiple of 2x2x1/);
  assert.throws(() => saliencyMaps(model, new Float32Array(4), { method: 'guided', classIndex: 7 }), /out of range/);
  assert.throws(() => saliencyMaps(model, new Float32Array([0, Number.NaN, 0, 0]), { method: 'guided' }), /value 1 is NaN/);
  assert.throws(() => saliencyMaps(model, new Float32Array(8), { method: 'guided', classIndex: [0] }), /1 class indices for 2 faces/);
  assert.throws(() => saliencyMaps(model, new Float32Array(4), { method: 'nope' as 'guided' }), /unknown saliency method/);
  assert.throws(() => saliencyMaps(model, new Float32Array(4), { method: 'gradcam', camLayer: 'missing' }), /no layer named "missing"/);
  assert.equal(tf.memory().numTensors, before);
  // The tensor API returns device tensors the caller owns.
  const t = saliencyTensors(model, new Float32Array(4), { method: 'guided-gradcam' });
  assert.deepEqual(t.maps.shape, [1, 2, 2]);
  tf.dispose([t.maps, t.probabilities, t.classIndex]);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('guided Grad-CAM is the normalised product of the two maps, in one pass or two', async () => {
  await setupBackend();
  const model = buildModel('mini-xception', { inputSize: 48, numClasses: 7 });
  const x = randomInput(2, 48, 5);
  // Default CAM map (no ReLU after it: one pass) and a mid-network conv output, unfolded from its
  // batch norm and followed by ReLUs (second, plain pass for the CAM gradient).
  const midConv = model.layers.filter((l) => l.getClassName() === 'SeparableConv2D')[3].name;
  for (const camLayer of [undefined, midConv]) {
    const g = saliencyMaps(model, x, { method: 'guided', camLayer });
    const c = saliencyMaps(model, x, { method: 'gradcam', camLayer });
    const gc = saliencyMaps(model, x, { method: 'guided-gradcam', camLayer });
    if (camLayer) assert.equal(c.camLayer, camLayer);
    for (let i = 0; i < 2; i++) {
      const prod = g.maps[i].map((v, k) => v * c.maps[i][k]);
      const mx = Math.max(...prod);
      assert.ok(mx > 0, 'some overlap');
      let worst = 0;
      prod.forEach((v, k) => (worst = Math.max(worst, Math.abs(v / mx - gc.maps[i][k]))));
      assert.ok(worst < 1e-4, `${camLayer ?? 'default'}: guided-gradcam differs from the product by ${worst}`);
      assert.deepEqual(gc.classIndex, g.classIndex);
    }
  }
  releaseSaliency(model);
  model.dispose();
});

test('classWeights: a weighted sum of class scores per face (one-hot rows = that class; linear in the plain gradient)', async () => {
  await setupBackend();
  const model = buildModel('tiny-xception', { inputSize: 32, channels: 1, numClasses: 4 });
  const x = randomInput(2, 32, 7);
  for (const score of ['logit', 'probability'] as const) {
    for (const method of SALIENCY_METHODS) {
      const byWeights = saliencyMaps(model, x, {
        method,
        score,
        classWeights: [
          [0, 0, 1, 0],
          [0, 1, 0, 0],
        ],
      });
      const byClass = saliencyMaps(model, x, { method, score, classIndex: [2, 1] });
      byWeights.maps.forEach((m, i) =>
        m.forEach((v, j) => assert.ok(Math.abs(v - byClass.maps[i][j]) < 1e-4, `${score} ${method} face ${i} px ${j}: ${v} vs ${byClass.maps[i][j]}`)),
      );
      // The class reported is the most probable one.
      byWeights.probabilities.forEach((p, i) => assert.equal(byWeights.classIndex[i], p.indexOf(Math.max(...p))));
    }
  }
  // Plain gradients are linear in the weights: 0.25 class 0 + 0.75 class 2 (an age between two anchors).
  const mixed = inputGradients(model, x, {
    guided: false,
    classWeights: [
      [0.25, 0, 0.75, 0],
      [0.25, 0, 0.75, 0],
    ],
  });
  const g0 = inputGradients(model, x, { guided: false, classIndex: 0 });
  const g2 = inputGradients(model, x, { guided: false, classIndex: 2 });
  const [a, b, c] = [mixed, g0, g2].map((t) => Array.from(t.dataSync()));
  a.forEach((v, i) => assert.ok(Math.abs(v - (0.25 * b[i] + 0.75 * c[i])) < 1e-5, `px ${i}: ${v} vs ${0.25 * b[i] + 0.75 * c[i]}`));
  for (const t of [mixed, g0, g2]) t.dispose();
  assert.throws(() => saliencyMaps(model, x, { method: 'guided', classWeights: [[0, 0, 1, 0]] }), /2 row\(s\) of 4 finite numbers/);
  releaseSaliency(model);
  model.dispose();
});
