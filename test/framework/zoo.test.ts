import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel, ZOO, modelCost } from '../../src/framework/index.js';
import { UserError } from '../../src/errors.js';

await setupBackend('cpu');

test('mini-xception 48x48x1 with 7 classes has exactly the paper parameter count', () => {
  const m = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
  const c = modelCost(m);
  assert.equal(c.params, 58423);
  assert.equal(c.trainableParams, 56951);
  assert.equal(c.weightBytes, 58423 * 4);
  m.dispose();
});

// Parameter counts follow from the paper's code; independent of input size for fully-conv nets.
const expected: Record<string, { params: number; trainable: number }> = {
  'simple-cnn': { params: 642935, trainable: 641463 },
  'simpler-cnn': { params: 559671, trainable: 557815 },
  'tiny-xception': { params: 18314, trainable: 17574 },
  'mini-xception': { params: 58423, trainable: 56951 },
  'mini-xception-s2': { params: 58423, trainable: 56951 },
  'big-xception': { params: 208871, trainable: 206375 },
};

for (const arch of ZOO) {
  test(`${arch.name}: output shape and parameter count at 48 and 64, 1 and 3 channels`, () => {
    for (const size of [48, 64]) {
      for (const channels of [1, 3]) {
        const m = buildModel(arch.name, { inputSize: size, channels, numClasses: 7 });
        assert.deepEqual(m.inputs[0].shape, [null, size, size, channels]);
        assert.deepEqual(m.outputs[0].shape, [null, 7]);
        if (channels === 1) {
          const c = modelCost(m);
          assert.equal(c.params, expected[arch.name].params);
          assert.equal(c.trainableParams, expected[arch.name].trainable);
        }
        const y = tf.tidy(() => m.predict(tf.zeros([2, size, size, channels])) as tf.Tensor);
        assert.deepEqual(y.shape, [2, 7]);
        const sums = tf.tidy(() => tf.sum(y, 1).arraySync() as number[]);
        for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5, 'softmax rows sum to 1');
        y.dispose();
        m.dispose();
      }
    }
  });
}

test('mini-xception-s2 at 2x the input costs about what mini-xception costs at 1x', () => {
  for (const size of [32, 48]) {
    const plain = buildModel('mini-xception', { inputSize: size, channels: 1, numClasses: 2 });
    const s2 = buildModel('mini-xception-s2', { inputSize: 2 * size, channels: 1, numClasses: 2 });
    const ratio = modelCost(s2).macs / modelCost(plain).macs;
    assert.ok(ratio > 0.9 && ratio < 1.15, `s2 at ${2 * size} / plain at ${size}: ${ratio.toFixed(3)} of the MACs`);
    // The stride-2 stem leaves a map one pixel larger than the plain stem's: floor((2n - 3) / 2) + 1 - 2 = n - 3 vs n - 4.
    const stemOut = (m: tf.LayersModel) => m.layers.filter((l) => l.getClassName() === 'Conv2D')[1].outputShape as number[];
    assert.equal(stemOut(s2)[1] - stemOut(plain)[1], 1);
    plain.dispose();
    s2.dispose();
  }
});

test('class count changes only the head', () => {
  const m2 = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 2 });
  assert.deepEqual(m2.outputs[0].shape, [null, 2]);
  // 58,423 - (3*3*128*7 + 7) + (3*3*128*2 + 2)
  assert.equal(m2.countParams(), 58423 - (1152 * 7 + 7) + (1152 * 2 + 2));
  m2.dispose();
});

test('bad requests give user errors that name the problem', () => {
  assert.throws(
    () => buildModel('resnet-152', { inputSize: 48, numClasses: 7 }),
    (e: unknown) => e instanceof UserError && /unknown architecture "resnet-152"/.test(e.message),
  );
  assert.throws(
    () => buildModel('mini-xception', { inputSize: 4, numClasses: 7 }),
    (e: unknown) => e instanceof UserError && /smallest input it accepts is 5/.test(e.message),
  );
  assert.throws(() => buildModel('big-xception', { inputSize: 6, numClasses: 7 }), UserError);
  assert.throws(() => buildModel('simpler-cnn', { inputSize: 96, numClasses: 7 }), /too large/);
  assert.throws(() => buildModel('mini-xception', { inputSize: 48, numClasses: 1 }), /classes/);
  assert.throws(() => buildModel('mini-xception', { inputSize: 48.5, numClasses: 7 }), /positive integer/);
  // The smallest accepted sizes really build.
  for (const arch of ZOO) buildModel(arch.name, { inputSize: arch.minInput, numClasses: 3 }).dispose();
});

test('no tensors leak from building and disposing models', () => {
  const before = tf.memory().numTensors;
  for (const arch of ZOO) buildModel(arch.name, { inputSize: 48, numClasses: 7 }).dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("mini-xception regularises only the stem convs, as the paper's released Keras model does", () => {
  // The released gender_mini_XCEPTION .hdf5 config: L2 0.01 on conv2d_1/conv2d_2, none on the
  // separable convs (Keras ignored the kernel_regularizer passed to SeparableConv2D), residuals or head.
  const m = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
  const regularised = m.layers
    .filter((l) => {
      const c = l.getConfig();
      return c.kernelRegularizer != null || c.depthwiseRegularizer != null || c.pointwiseRegularizer != null;
    })
    .map((l) => l.getClassName());
  assert.deepEqual(regularised, ['Conv2D', 'Conv2D']);
  const losses = m.calculateLosses();
  assert.equal(losses.length, 2);
  tf.dispose(losses);
  m.dispose();
});
