import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../../src/engine/backend.js';
import { UserError } from '../../../src/errors.js';
import { buildModel, ZOO } from '../../../src/framework/zoo.js';
import { decodeModel, exportToOnnx, readOnnxInfo, tfPads } from '../../../src/io/onnx/index.js';
import { compileSchema, GENERATED_PATH, renderSchemaModule } from '../../../src/io/onnx/generate-schema.js';
import { ONNX_SCHEMA } from '../../../src/io/onnx/onnx-schema.generated.js';
import { maxAbsDiff, onnxCheck, onnxCheckerAvailable, ortPredict, randomInputs, randomiseBatchNorm, tfjsPredict } from './helpers.js';

const TOL = 1e-4;

/** Export, run both, assert agreement; returns the ONNX bytes. */
async function assertSameOutputs(model: tf.LayersModel, n: number, opts: { fold?: boolean; seed?: number } = {}): Promise<Uint8Array> {
  const inShape = [n, ...(model.inputs[0].shape.slice(1) as number[])];
  const x = randomInputs(
    inShape.reduce((a, b) => a * b, 1),
    opts.seed ?? 3,
  );
  const bytes = exportToOnnx(model, { foldBatchNorm: opts.fold });
  const ref = await tfjsPredict(model, x, inShape);
  const { out, dims } = await ortPredict(bytes, x, inShape);
  assert.deepEqual([...dims], [n, ...(model.outputs[0].shape.slice(1) as number[])]);
  const scale = Math.max(1, ...Array.from(ref, Math.abs));
  const diff = maxAbsDiff(ref, out);
  assert.ok(diff <= TOL * scale, `${model.name}: max |tfjs - onnxruntime| = ${diff} > ${TOL * scale}`);
  return bytes;
}

const exported: Record<string, Uint8Array> = {};

describe('ONNX exporter', () => {
  before(async () => {
    await setupBackend();
  });

  for (const arch of ZOO) {
    it(`${arch.name}: onnxruntime equals tfjs within 1e-4 (48x48x1, 7 classes, randomised BN)`, async () => {
      const model = buildModel(arch.name, { inputSize: 48, channels: 1, numClasses: 7 });
      try {
        randomiseBatchNorm(model, 11);
        exported[`${arch.name}-48x48x1`] = await assertSameOutputs(model, 3);
      } finally {
        model.dispose();
      }
    });
  }

  for (const [name, size, channels, classes] of [
    ['mini-xception', 64, 3, 2],
    ['tiny-xception', 64, 1, 2],
    ['simpler-cnn', 64, 3, 7],
    ['big-xception', 37, 3, 7],
  ] as const) {
    it(`${name} at ${size}x${size}x${channels}, ${classes} classes`, async () => {
      const model = buildModel(name, { inputSize: size, channels, numClasses: classes });
      try {
        randomiseBatchNorm(model, 5);
        exported[`${name}-${size}x${size}x${channels}`] = await assertSameOutputs(model, 2, { seed: 9 });
      } finally {
        model.dispose();
      }
    });
  }

  it('folds batch norm into convolutions, or keeps BatchNormalization nodes with --no-fold; both agree with tfjs', async () => {
    const model = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
    try {
      randomiseBatchNorm(model, 21);
      const folded = decodeModel(await assertSameOutputs(model, 2));
      const plain = decodeModel(await assertSameOutputs(model, 2, { fold: false }));
      const count = (m: typeof folded, op: string) => m.graph.node.filter((n) => n.opType === op).length;
      const bnLayers = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length;
      assert.equal(count(folded, 'BatchNormalization'), 0);
      assert.equal(count(plain, 'BatchNormalization'), bnLayers);
      assert.equal(count(folded, 'Conv'), count(plain, 'Conv'));
    } finally {
      model.dispose();
    }
  });

  it('accepts any batch size (dynamic batch dimension) and names its I/O image -> probabilities', async () => {
    const model = buildModel('tiny-xception', { inputSize: 48, channels: 1, numClasses: 7 });
    try {
      for (const n of [1, 5]) await assertSameOutputs(model, n, { seed: n });
      const m = decodeModel(exportToOnnx(model));
      assert.deepEqual(
        m.graph.input.map((i) => i.name),
        ['image'],
      );
      assert.deepEqual(
        m.graph.output.map((o) => o.name),
        ['probabilities'],
      );
      assert.equal(m.opsetImport[0].version, 13);
    } finally {
      model.dispose();
    }
  });

  it('covers every supported layer: strides, odd sizes, even kernels, depth multipliers, BN not foldable, concat, padding, dense', async () => {
    const inp = tf.input({ shape: [9, 9, 3] });
    const L = tf.layers;
    const a = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(inp) as tf.SymbolicTensor;
    let b = L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }).apply(inp) as tf.SymbolicTensor;
    b = L.batchNormalization({}).apply(b) as tf.SymbolicTensor;
    b = L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(b) as tf.SymbolicTensor;
    let c = L.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', depthMultiplier: 2 }).apply(inp) as tf.SymbolicTensor;
    c = L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(c) as tf.SymbolicTensor;
    const d = L.conv2d({ filters: 8, kernelSize: 4, strides: 2, padding: 'same', useBias: false }).apply(inp) as tf.SymbolicTensor;
    const sum = L.add().apply([a, c, d]) as tf.SymbolicTensor;
    let y = L.concatenate().apply([sum, b]) as tf.SymbolicTensor;
    y = L.batchNormalization({}).apply(y) as tf.SymbolicTensor;
    y = L.zeroPadding2d({ padding: 1 }).apply(y) as tf.SymbolicTensor;
    const convOut = L.conv2d({ filters: 4, kernelSize: 3, padding: 'valid' }).apply(y) as tf.SymbolicTensor;
    const bn = L.batchNormalization({ center: false }).apply(convOut) as tf.SymbolicTensor;
    y = L.add().apply([convOut, bn]) as tf.SymbolicTensor;
    y = L.leakyReLU({ alpha: 0.1 }).apply(y) as tf.SymbolicTensor;
    y = L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid' }).apply(y) as tf.SymbolicTensor;
    y = L.multiply().apply([y, L.reLU({ maxValue: 1 }).apply(y) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    y = L.flatten().apply(y) as tf.SymbolicTensor;
    y = L.dense({ units: 10, activation: 'tanh' }).apply(y) as tf.SymbolicTensor;
    y = L.dropout({ rate: 0.5 }).apply(y) as tf.SymbolicTensor;
    y = L.dense({ units: 5 }).apply(y) as tf.SymbolicTensor;
    y = L.batchNormalization({}).apply(y) as tf.SymbolicTensor;
    const out = L.softmax().apply(y) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out, name: 'all-layers' });
    try {
      randomiseBatchNorm(model, 3);
      exported['all-layers'] = await assertSameOutputs(model, 4);
      const ops = new Set(decodeModel(exported['all-layers']).graph.node.map((n) => n.opType));
      for (const op of ['Sum', 'Concat', 'BatchNormalization', 'Pad', 'Gemm', 'Clip', 'LeakyRelu', 'MaxPool', 'AveragePool', 'Mul', 'Softmax']) {
        assert.ok(ops.has(op), `expected a ${op} node, got ${[...ops].join(', ')}`);
      }
    } finally {
      model.dispose();
    }
  });

  it('exports a model whose output is a feature map (NHWC out, softmax over channels)', async () => {
    const inp = tf.input({ shape: [10, 7, 2] });
    let y = tf.layers.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same' }).apply(inp) as tf.SymbolicTensor;
    y = tf.layers.globalMaxPooling2d({}).apply(tf.layers.activation({ activation: 'relu' }).apply(y)) as tf.SymbolicTensor;
    const map = tf.layers
      .activation({ activation: 'softmax' })
      .apply(tf.layers.conv2d({ filters: 4, kernelSize: 1 }).apply(inp) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: map, name: 'map-out' });
    try {
      await assertSameOutputs(model, 2);
    } finally {
      model.dispose();
    }
    void y;
  });

  it('names the layer and its type when a layer cannot be exported', () => {
    const inp = tf.input({ shape: [8, 8, 1] });
    const up = tf.layers.upSampling2d({ size: [2, 2], name: 'my_upsample' }).apply(inp) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: tf.layers.flatten().apply(up) as tf.SymbolicTensor });
    try {
      assert.throws(
        () => exportToOnnx(model),
        (err: Error) => err instanceof UserError && /"my_upsample" \(UpSampling2D\).*unsupported layer type/.test(err.message),
      );
    } finally {
      model.dispose();
    }
    const model2 = buildModel('tiny-xception', { inputSize: 48, numClasses: 7 });
    try {
      assert.throws(() => exportToOnnx(model2, { opset: 12 }), /opset must be an integer in \[13, 17\]/);
    } finally {
      model2.dispose();
    }
  });

  it('computes TF SAME padding with the extra pixel at the end', () => {
    assert.deepEqual(tfPads('same', [7, 7], [3, 3], [2, 2]), [1, 1, 1, 1]);
    assert.deepEqual(tfPads('same', [8, 8], [3, 3], [2, 2]), [0, 0, 1, 1]);
    assert.deepEqual(tfPads('same', [9, 10], [4, 4], [2, 2]), [1, 1, 2, 1]);
    assert.deepEqual(tfPads('same', [5, 5], [3, 3], [1, 1], [2, 2]), [2, 2, 2, 2]);
    assert.deepEqual(tfPads('valid', [5, 5], [3, 3], [1, 1]), [0, 0, 0, 0]);
  });

  it('rejects bytes that are not ONNX with an error naming the input', () => {
    assert.throws(
      () => readOnnxInfo(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02]), 'junk.onnx'),
      (e: Error) => e instanceof UserError && /junk\.onnx is not a valid ONNX file/.test(e.message),
    );
  });

  it('ships a generated schema module that matches onnx.proto (regenerate: node dist/src/io/onnx/generate-schema.js)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(compileSchema())), JSON.parse(JSON.stringify(ONNX_SCHEMA)));
    assert.equal(fs.readFileSync(GENERATED_PATH, 'utf8'), renderSchemaModule(compileSchema()));
  });

  it('every exported graph passes onnx.checker.check_model (full check)', (t) => {
    const available = onnxCheckerAvailable();
    if (available !== true) return t.skip(`onnx.checker not run: ${available}`);
    assert.ok(Object.keys(exported).length >= ZOO.length, 'the export tests above must run first');
    const r = onnxCheck(exported);
    assert.ok(r.ok, r.output);
  });
});
