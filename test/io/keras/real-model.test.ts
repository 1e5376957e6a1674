/** The paper's released gender model imports as the zoo's mini-Xception and computes what Keras computed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { datasetPath } from '../../../src/data/paths.js';
import { setupBackend } from '../../../src/engine/backend.js';
import { buildModel } from '../../../src/framework/zoo.js';
import { importKerasModel, structureHash } from '../../../src/io/keras/index.js';
import { loadModel } from '../../../src/io/model-store.js';
import { runCli } from '../../helpers/cli.js';
import { tmpDir } from '../../helpers/tmp.js';
import { maxAbsDiff, numpyReference, pythonSkip } from './helpers.js';

const FILE = datasetPath('keras', 'gender_mini_XCEPTION.21-0.95.hdf5');
const skip = fs.existsSync(FILE) ? false : `the paper's Keras model is absent (${FILE}); set FACECLS_DATASETS to run this test`;
const dir = tmpDir('facecls-keras-real-');

test('gender_mini_XCEPTION.21-0.95.hdf5 imports as mini-Xception 64x64x1, 2 classes, and matches NumPy', { skip: skip || pythonSkip() }, async () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    await setupBackend(backend);
    const out = path.join(dir, `gender-${backend}`);
    const r = await importKerasModel(FILE, out);
    assert.equal(r.meta.arch, 'mini-xception');
    assert.equal(r.meta.task, 'gender');
    assert.deepEqual(r.meta.labels, ['woman', 'man']);
    assert.equal(r.meta.inputSize, 64);
    assert.equal(r.meta.channels, 1);
    assert.deepEqual(r.meta.preprocessing, { colorSpace: 'grey', range: [-1, 1] });
    assert.deepEqual(r.warnings, []);

    const loaded = await loadModel(out);
    const zoo = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 2 });
    try {
      // Layer for layer: same graph structure and the same parameter count as the zoo's mini-Xception.
      assert.equal(loaded.model.countParams(), zoo.countParams());
      assert.equal(r.match.params, zoo.countParams());
      assert.equal(structureHash(loaded.model), structureHash(zoo));
      const kinds = (m: tf.LayersModel) => m.layers.map((l) => l.getClassName()).sort();
      assert.deepEqual(kinds(loaded.model), kinds(zoo));
      assert.equal(loaded.model.layers.filter((l) => l.getClassName() === 'SeparableConv2D').length, 8);
      // ... but a different size or class count is not the same model.
      const other = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 7 });
      assert.notEqual(structureHash(other), structureHash(loaded.model));
      other.dispose();

      const ref = numpyReference(FILE, dir, 4);
      const x = tf.tensor(ref.input, ref.inputShape);
      const y = loaded.model.predict(x) as tf.Tensor;
      const got = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      const diff = maxAbsDiff(got, ref.output);
      assert.ok(diff < 1e-4, `${backend}: max |tfjs - numpy| = ${diff}`);
    } finally {
      loaded.model.dispose();
      zoo.dispose();
    }
  }
});

test('facecls import keras on the real file prints the architecture check', { skip }, () => {
  const r = runCli(['import', 'keras', FILE, '-o', path.join(dir, 'cli')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /architecture: mini-xception, 52,658 parameters/);
  assert.match(r.stdout, /input: 64x64x1 grey, range \[-1, 1\]/);
  assert.match(r.stdout, /task: gender, outputs: woman, man/);
  const card = fs.readFileSync(path.join(dir, 'cli', 'MODEL_CARD.md'), 'utf8');
  assert.match(card, /mini-xception \(matches the zoo layer for layer\)/);
  assert.match(card, /64x64x1/);
});
