import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { conv, separableConv, input, classificationHead, modelCost, convBnRelu, xceptionModule } from '../../src/framework/index.js';

await setupBackend('cpu');

test('MACs of a hand-computed small network', () => {
  const x = input(10, 3);
  // conv 3x3 valid, 3 -> 4 channels: 8*8 outputs * 9 * 3 * 4 = 6912 MACs
  let y = conv(x, 4, { kernel: 3, padding: 'valid' });
  // separable 3x3 same stride 2, 4 -> 6: out 4x4; depthwise 16*9*4 = 576, pointwise 16*4*6 = 384
  y = separableConv(y, 6, { kernel: 3, strides: 2, padding: 'same' });
  // head: conv 3x3 same 6 -> 2 on 4x4: 16*9*6*2 = 1728; GAP and softmax: 0
  const out = classificationHead(y, 2);
  const m = tf.model({ inputs: x, outputs: out });
  const c = modelCost(m);
  assert.equal(c.macs, 6912 + 576 + 384 + 1728);
  // params: conv 3*3*3*4+4 = 112; sep 9*4 + 4*6 + 6 = 66; head 9*6*2+2 = 110
  assert.equal(c.params, 112 + 66 + 110);
  m.dispose();
});

test('blocks compose: stem + xception module keeps BN non-trainable stats out of trainable count', () => {
  const x = input(16, 1);
  let y = convBnRelu(x, 8, { kernel: 3, padding: 'valid' }); // 72 + BN 32 (16 trainable)
  y = xceptionModule(y, 16); // residual 128 + BN 64; sep 72+128 + BN 64; sep 144+256 + BN 64
  const m = tf.model({ inputs: x, outputs: y });
  const c = modelCost(m);
  assert.equal(c.params, 72 + 32 + 128 + 64 + 200 + 64 + 400 + 64);
  assert.equal(c.trainableParams, c.params - (16 + 32 * 3));
  assert.deepEqual(m.outputs[0].shape, [null, 7, 7, 16]);
  m.dispose();
});
