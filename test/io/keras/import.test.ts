import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../../src/engine/backend.js';
import { UserError } from '../../../src/errors.js';
import { importKerasModel, loadKerasModel, MODEL_CARD_JSON, MODEL_CARD_MD } from '../../../src/io/keras/index.js';
import { loadModel } from '../../../src/io/model-store.js';
import { decodeImage } from '../../../src/data/decode.js';
import { preprocessFace } from '../../../src/data/preprocess.js';
import sharp from 'sharp';
import { runCli } from '../../helpers/cli.js';
import { tmpDir } from '../../helpers/tmp.js';
import { maxAbsDiff, numpyReference, pythonSkip, writeFixtures } from './helpers.js';

// The fixtures (Keras HDF5 files) and their references are written by Debian's python with h5py + NumPy.
const skip = pythonSkip();
if (skip) console.log(`# Keras import tests: ${skip}`);
const dir = tmpDir('facecls-keras-');
if (!skip) writeFixtures(dir);
const fx = (name: string) => path.join(dir, name);

async function predict(model: tf.LayersModel, input: number[], shape: number[]): Promise<Float32Array> {
  const x = tf.tensor(input, shape);
  const y = model.predict(x) as tf.Tensor;
  const data = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return data;
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`fixtures in Keras 2 layout import and match a NumPy forward pass (${backend})`, { skip }, async () => {
    await setupBackend(backend);
    const cases = [
      { file: 'functional.h5', classes: 2, task: 'gender', size: 16, channels: 1, layers: 17, arch: undefined },
      { file: 'sequential.h5', classes: 7, task: 'emotion', size: 12, channels: 3, layers: 9, arch: undefined },
      { file: 'sequential_dict.h5', classes: 7, task: 'emotion', size: 12, channels: 1, layers: 9, arch: undefined },
      // The paper's simple_CNN as its code writes it (Sequential, first conv named image_array).
      { file: 'simple_cnn.h5', classes: 7, task: 'emotion', size: 48, channels: 1, layers: 34, arch: 'simple-cnn' },
    ];
    for (const c of cases) {
      const before = tf.memory().numTensors;
      const ref = numpyReference(fx(c.file), dir, 3);
      const { model, meta, match } = await loadKerasModel(fx(c.file));
      try {
        assert.equal(model.layers.length, c.layers, c.file);
        assert.equal(meta.task, c.task, c.file);
        assert.equal(meta.labels.length, c.classes);
        assert.equal(meta.inputSize, c.size);
        assert.equal(meta.channels, c.channels);
        assert.equal(meta.arch, c.arch, `${c.file}: zoo architecture`);
        assert.equal(match.arch, c.arch);
        assert.deepEqual(ref.outputShape, [3, c.classes]);
        const out = await predict(model, ref.input, ref.inputShape);
        const diff = maxAbsDiff(out, ref.output);
        assert.ok(diff < 1e-4, `${c.file}: max |tfjs - numpy| = ${diff}`);
        // Different inputs give different outputs: the comparison is not trivially satisfied.
        assert.ok(maxAbsDiff(out.subarray(0, c.classes), out.subarray(c.classes, 2 * c.classes)) > 1e-3, `${c.file}: outputs vary with the input`);
      } finally {
        model.dispose();
      }
      assert.equal(tf.memory().numTensors, before, `${c.file}: no tensors leak`);
    }
  });
}

test('tf.keras 2.x and Keras 3 legacy-h5 layouts of the same network import alike', { skip }, async () => {
  await setupBackend();
  const ref = numpyReference(fx('functional_tfkeras.h5'), dir, 2);
  const outputs: Float32Array[] = [];
  for (const file of ['functional_tfkeras.h5', 'functional_keras3.h5']) {
    const { model, warnings } = await loadKerasModel(fx(file));
    try {
      outputs.push(await predict(model, ref.input, ref.inputShape));
      if (file.includes('keras3')) assert.match(warnings.join('\n'), /Keras 3\.3\.3; this importer targets Keras 2\.x/);
      else assert.deepEqual(warnings, []);
    } finally {
      model.dispose();
    }
  }
  assert.ok(maxAbsDiff(outputs[0], ref.output) < 1e-4, 'tf.keras layout matches NumPy');
  assert.ok(maxAbsDiff(outputs[1], ref.output) < 1e-4, 'Keras 3 layout matches NumPy');
});

test('imported model dir is a normal facecls model (loadModel), with a model card', { skip }, async () => {
  await setupBackend();
  const out = path.join(dir, 'out-functional');
  const r = await importKerasModel(fx('functional.h5'), out);
  assert.equal(r.meta.task, 'gender');
  assert.deepEqual(r.meta.labels, ['woman', 'man']);
  for (const f of ['model.json', 'weights.bin', MODEL_CARD_JSON, MODEL_CARD_MD]) assert.ok(fs.existsSync(path.join(out, f)), f);
  const card = JSON.parse(fs.readFileSync(path.join(out, MODEL_CARD_JSON), 'utf8'));
  assert.equal(card.inputSize, 16);
  assert.deepEqual(card.preprocessing, { colorSpace: 'grey', range: [-1, 1] });
  assert.equal(card.imported, true);
  assert.equal(card.source.file, 'functional.h5');
  assert.equal(card.source.kerasVersion, '2.0.5');
  assert.match(fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8'), /16x16x1[\s\S]*grey, scaled to \[-1, 1\]/);

  const loaded = await loadModel(out);
  try {
    assert.equal(loaded.meta.imported, true);
    assert.equal(loaded.meta.inputSize, 16);
    assert.deepEqual(loaded.meta.preprocessing, { colorSpace: 'grey', range: [-1, 1] });
    const ref = numpyReference(fx('functional.h5'), dir, 2);
    const y = await predict(loaded.model, ref.input, ref.inputShape);
    assert.ok(maxAbsDiff(y, ref.output) < 1e-4, 'saved and reloaded model still matches the reference');
  } finally {
    loaded.model.dispose();
  }
  await assert.rejects(importKerasModel(fx('functional.h5'), out), /already holds a model/);
  await assert.rejects(importKerasModel(fx('functional.h5'), path.join(dir, 'x'), { labels: ['a', 'b', 'c'] }), /2 outputs but 3 labels/);
  await assert.rejects(importKerasModel(fx('functional.h5'), path.join(dir, 'x'), { task: 'emotion' }), /task emotion needs 7 outputs/);
  assert.ok(!fs.existsSync(path.join(dir, 'x')), 'a failed import writes nothing');
  const again = await importKerasModel(fx('functional.h5'), out, { overwrite: true, labels: ['f', 'm'], task: 'custom', cropMargin: 0.3 });
  assert.deepEqual(again.meta.labels, ['f', 'm']);
  assert.equal(again.meta.cropMargin, 0.3);
});

test('unsupported layers and attributes are user errors naming them', { skip }, async () => {
  await setupBackend();
  const before = tf.memory().numTensors;
  const cases: Array<[string, RegExp]> = [
    ['bad_lstm.h5', /"conv2d_3".*unsupported layer class LSTM/],
    ['bad_dilation.h5', /"conv2d_3" \(Conv2D\) attribute dilation_rate=\[2,2\] is not supported: dilated/],
    ['bad_activation.h5', /"activation_2" \(Activation\) attribute activation="hard_sigmoid" is not supported/],
    ['bad_channels_first.h5', /"max_pooling2d_1" \(MaxPooling2D\) attribute data_format="channels_first".*channels_last/],
    ['bad_depth_multiplier.h5', /"separable_conv2d_2" \(SeparableConv2D\) attribute depth_multiplier=2 is not supported/],
    ['bad_unknown_attr.h5', /"conv2d_1" \(Conv2D\) attribute groups=2 is not supported/],
    ['bad_weight_shape.h5', /"conv2d_3" \(Conv2D\): weight "conv2d_3\/kernel:0" has shape \[3, 3, 8, 1\], the layer expects \[3, 3, 8, 2\]/],
    ['bad_missing_weights.h5', /"batch_normalization_1" \(BatchNormalization\) has 0 weight arrays in the file/],
    ['weights_only.h5', /weights only \(saved with save_weights\)/],
    ['keras1.h5', /written by Keras 1\.2\.2: Keras 1 files are not supported/],
  ];
  for (const [file, re] of cases) {
    await assert.rejects(loadKerasModel(fx(file)), (err: unknown) => {
      assert.ok(err instanceof UserError, `${file}: ${String(err)}`);
      assert.match(err.message, re, file);
      return true;
    });
  }
  const notH5 = path.join(dir, 'notes.h5');
  fs.writeFileSync(notH5, 'not an hdf5 file at all');
  const empty = path.join(dir, 'empty.h5');
  fs.writeFileSync(empty, '');
  const zip = path.join(dir, 'model.keras');
  fs.writeFileSync(zip, Buffer.from('PK\x03\x04 zip archive', 'latin1'));
  const truncated = path.join(dir, 'truncated.h5');
  fs.writeFileSync(truncated, fs.readFileSync(fx('functional.h5')).subarray(0, 3000));
  for (const [file, re] of [
    [notH5, /is not an HDF5 file/],
    [empty, /is empty/],
    [zip, /zip archive \(Keras 3 "\.keras" format\?\)/],
    [path.join(dir, 'missing.h5'), /does not exist/],
    [dir, /is not a file/],
    [truncated, /truncated/],
  ] as Array<[string, RegExp]>) {
    await assert.rejects(loadKerasModel(file), (err: unknown) => err instanceof UserError && re.test(err.message) && err.message.includes(path.basename(file)));
  }
  assert.equal(tf.memory().numTensors, before, 'failed imports leak no tensors');
});

test('facecls import keras (CLI)', { skip }, () => {
  fs.writeFileSync(path.join(dir, 'truncated.h5'), fs.readFileSync(fx('functional.h5')).subarray(0, 3000));
  const out = path.join(dir, 'cli-seq');
  const r = runCli(['import', 'keras', fx('sequential.h5'), '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.meta.task, 'emotion');
  assert.equal(j.meta.labels.length, 7);
  assert.equal(j.meta.channels, 3);
  assert.ok(fs.existsSync(path.join(out, 'model.json')));

  const text = runCli(['import', 'keras', fx('functional.h5'), '-o', path.join(dir, 'cli-fn'), '--labels', 'a,b']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /input: 16x16x1 grey, range \[-1, 1\]/);
  assert.match(text.stdout, /outputs: a, b/);

  for (const [args, re] of [
    [['import', 'keras', fx('bad_lstm.h5'), '-o', path.join(dir, 'x1')], /unsupported layer class LSTM/],
    [['import', 'keras', fx('sequential.h5'), '-o', out], /already holds a model/],
    [['import', 'keras', fx('sequential.h5')], /-o <model dir>/],
    [['import', 'keras', fx('functional.h5'), '-o', path.join(dir, 'x3'), '--task', 'age'], /unknown task "age"/],
    [['import', 'keras', path.join(dir, 'truncated.h5'), '-o', path.join(dir, 'x5')], /corrupt or truncated\?\): truncated file/],
  ] as Array<[string[], RegExp]>) {
    const e = runCli(args);
    assert.equal(e.code, 1, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, /^facecls: error: /);
    assert.match(e.stderr, re);
    assert.equal(e.stderr.trim().split('\n').length, 1, `one line: ${e.stderr}`);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'x1')), 'a failed import writes nothing');
});

test('the imported model dir works with export onnx and classify (other commands load it as any model)', { skip }, async () => {
  await setupBackend();
  const model = path.join(dir, 'for-classify');
  await importKerasModel(fx('functional.h5'), model);
  const png = path.join(dir, 'face.png');
  const [w, h] = [40, 40];
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 3) * 11) % 256;
  await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(png);

  const exp = runCli(['export', 'onnx', model]);
  assert.equal(exp.code, 0, exp.stderr);
  assert.ok(fs.existsSync(path.join(model, 'model.onnx')));
  const cls = runCli(['classify', '--crops', '--no-emotion', '--gender-model', model, '--json', png]);
  assert.equal(cls.code, 0, cls.stderr);
  const face = JSON.parse(cls.stdout).faces[0];

  // Same answer as the model run here on the same preprocessing.
  const loaded = await loadModel(model);
  try {
    const x = preprocessFace(await decodeImage(png, { grey: true }), { inputSize: 16, channels: 1 });
    const p = await predict(loaded.model, Array.from(x), [1, 16, 16, 1]);
    assert.ok(Math.abs(face.gender.scores.woman - p[0]) < 1e-3, `classify ${face.gender.scores.woman} vs ${p[0]}`);
    assert.equal(face.gender.label, p[0] > p[1] ? 'woman' : 'man');
  } finally {
    loaded.model.dispose();
  }
});
