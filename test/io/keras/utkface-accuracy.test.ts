/**
 * `facecls eval` on the imported paper gender model lands near the accuracy measured independently
 * with Keras on UTKFace adults (grey, 64x64, [-1, 1]): 62.4% on the tight aligned crop, 88.3% with a
 * 30% replicated border (the model was trained on loose IMDB crops).
 *
 * To stay fast this evaluates the adults of the project's UTKFace test split (about 1,950 images,
 * binomial standard error about 1.1 points, hence the 3.5-point tolerance). The model never saw
 * UTKFace, so every split is unseen: full-set figures come from the same command on every split,
 * or `node dist/bench/keras-utkface.js <model dir>` (an independent decode/preprocess/predict loop).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { datasetPath } from '../../../src/data/paths.js';
import { setupBackend } from '../../../src/engine/backend.js';
import { evaluate } from '../../../src/eval/evaluate.js';
import { importKerasModel } from '../../../src/io/keras/index.js';
import { tmpDir } from '../../helpers/tmp.js';

const FILE = datasetPath('keras', 'gender_mini_XCEPTION.21-0.95.hdf5');
const UTK = datasetPath('utkface');
const skip = !fs.existsSync(FILE)
  ? `the paper's Keras model is absent (${FILE})`
  : !fs.existsSync(UTK)
    ? `UTKFace is absent (${UTK}); set FACECLS_DATASETS to run this test`
    : false;

const REFERENCE: Array<[number, number]> = [
  [0, 0.624],
  [0.3, 0.883],
];
const TOLERANCE = 0.035;

test('facecls eval of the imported gender_mini_XCEPTION on UTKFace adults: near 62.4% tight, 88.3% with a 30% border', { skip }, async () => {
  await setupBackend();
  const dir = path.join(tmpDir('facecls-keras-utk-'), 'gender');
  await importKerasModel(FILE, dir);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  for (const [margin, reference] of REFERENCE) {
    const r = await evaluate({ model: dir, data: UTK, split: 'test', adults: true, cropMargin: margin, expectTask: 'gender' });
    assert.equal(r.arch, 'mini-xception');
    assert.ok(r.metrics.n > 1500, `adults in the test split: ${r.metrics.n}`);
    console.log(`# UTKFace adults, test split (n=${r.metrics.n}), crop margin ${margin}: ${pct(r.metrics.accuracy)} (reference ${pct(reference)})`);
    assert.ok(Math.abs(r.metrics.accuracy - reference) < TOLERANCE, `margin ${margin}: ${pct(r.metrics.accuracy)} vs reference ${pct(reference)}`);
  }
});
