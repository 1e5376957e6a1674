/**
 * The imported paper gender model lands near the accuracy measured independently with Keras on
 * UTKFace adults: 62.4% on the tight aligned crop, 88.3% with a 30% replicated border.
 * A deterministic 1,000-image subset keeps the test fast (binomial standard error about 1.5 points,
 * hence the 3.5-point tolerance); full-set figures: `node dist/bench/keras-utkface.js <model dir>`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evenSubset, genderAccuracy, utkfaceAdults } from '../../../bench/keras-utkface.js';
import { datasetPath } from '../../../src/data/paths.js';
import { setupBackend } from '../../../src/engine/backend.js';
import { importKerasModel } from '../../../src/io/keras/index.js';
import { loadModel } from '../../../src/io/model-store.js';
import { tmpDir } from '../../helpers/tmp.js';

const FILE = datasetPath('keras', 'gender_mini_XCEPTION.21-0.95.hdf5');
const UTK = datasetPath('utkface');
const skip = !fs.existsSync(FILE)
  ? `the paper's Keras model is absent (${FILE})`
  : !fs.existsSync(UTK)
    ? `UTKFace is absent (${UTK}); set FACECLS_DATASETS to run this test`
    : false;

const REFERENCE = { tight: 0.624, border30: 0.883 };
const TOLERANCE = 0.035;

test('imported gender_mini_XCEPTION on 1,000 UTKFace adults: near 62.4% tight, 88.3% with a 30% border', { skip }, async () => {
  await setupBackend();
  const dir = path.join(tmpDir('facecls-keras-utk-'), 'gender');
  await importKerasModel(FILE, dir);
  const { model, meta } = await loadModel(dir);
  try {
    const all = utkfaceAdults();
    assert.ok(all.length > 15000, `UTKFace adults found: ${all.length}`);
    const faces = evenSubset(all, 1000);
    const [tight, border] = await genderAccuracy(model, faces, { inputSize: meta.inputSize, margins: [0, 0.3] });
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    console.log(`# UTKFace adults subset (n=${faces.length}): tight ${pct(tight.accuracy)}, 30% border ${pct(border.accuracy)}`);
    assert.ok(Math.abs(tight.accuracy - REFERENCE.tight) < TOLERANCE, `tight crop: ${pct(tight.accuracy)} vs reference ${pct(REFERENCE.tight)}`);
    assert.ok(Math.abs(border.accuracy - REFERENCE.border30) < TOLERANCE, `30% border: ${pct(border.accuracy)} vs reference ${pct(REFERENCE.border30)}`);
  } finally {
    model.dispose();
  }
});
