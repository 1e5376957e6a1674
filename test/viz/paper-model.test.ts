import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { datasetPath } from '../../src/data/paths.js';
import { decodeImage } from '../../src/data/decode.js';
import { preprocessFace } from '../../src/data/preprocess.js';
import { setupBackend } from '../../src/engine/backend.js';
import { loadKerasModel } from '../../src/io/keras/import.js';
import { graphScores, inputGradients, releaseSaliency, saliencyMaps } from '../../src/viz/saliency.js';

const KERAS = datasetPath('keras', 'gender_mini_XCEPTION.21-0.95.hdf5');
const UTK = datasetPath('utkface');

test("the paper's released gender mini-Xception: walk matches predict, saliency sits on the face", async (t) => {
  if (!fs.existsSync(KERAS) || !fs.existsSync(UTK)) {
    t.skip(`datasets absent (${KERAS}, ${UTK}): set FACECLS_DATASETS to run`);
    return;
  }
  await setupBackend();
  const { model, meta } = await loadKerasModel(KERAS);
  try {
    const files = fs
      .readdirSync(UTK)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, 4);
    const size = meta.inputSize;
    const batch = new Float32Array(files.length * size * size);
    for (const [i, f] of files.entries()) {
      const img = await decodeImage(`${UTK}/${f}`);
      preprocessFace(img, { inputSize: size, channels: 1 }, batch, i * size * size);
    }
    const probs = graphScores(model, batch, 'probability');
    const ref = tf.tidy(() => model.predict(tf.tensor4d(batch, [files.length, size, size, 1])) as tf.Tensor);
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(probs, ref))).dataSync()[0]);
    tf.dispose([probs, ref]);
    assert.ok(d < 1e-4, `walk differs from predict by ${d}`);

    // Guided gradients are sparser than plain ones (the incoming-gradient gate removes evidence).
    const g = inputGradients(model, batch, { guided: true });
    const p = inputGradients(model, batch, { guided: false });
    const nz = (x: tf.Tensor) => tf.tidy(() => tf.sum(tf.cast(tf.notEqual(x, 0), 'float32')).dataSync()[0]);
    assert.ok(nz(g) < nz(p), `guided non-zeros ${nz(g)} vs plain ${nz(p)}`);
    tf.dispose([g, p]);

    // UTKFace chips are aligned faces: the central quarter of the area holds far more than a quarter
    // of the guided map (about half with this model; uniform would be 0.25).
    const r = saliencyMaps(model, batch, { method: 'guided' });
    for (const m of r.maps) {
      let inner = 0;
      let total = 0;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const v = m[y * size + x];
          total += v;
          if (x >= size / 4 && x < (3 * size) / 4 && y >= size / 4 && y < (3 * size) / 4) inner += v;
        }
      }
      assert.ok(inner / total > 0.35, `central quarter-area holds only ${(inner / total).toFixed(2)} of the map`);
    }
  } finally {
    releaseSaliency(model);
    model.dispose();
  }
});
