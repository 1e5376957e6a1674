import assert from 'node:assert/strict';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { UserError } from '../../src/errors.js';
import { buildEnsemble, ENSEMBLE_OUTPUT } from '../../src/framework/ensemble.js';
import { buildModel } from '../../src/framework/zoo.js';
import { loadModel, saveModel } from '../../src/io/model-store.js';
import { exportToOnnx } from '../../src/io/onnx/index.js';
import { maxAbsDiff, ortPredict, randomInputs, randomiseBatchNorm, tfjsPredict } from '../io/onnx/helpers.js';
import { tmpDir } from '../helpers/tmp.js';
import { testMeta } from '../helpers/meta.js';

describe('ensemble of trained models as one layers model', () => {
  before(async () => {
    await setupBackend();
  });

  it("averages the members' probabilities; saves, loads and exports to ONNX with the same outputs", async () => {
    const members = [1, 2, 3].map((seed) => {
      const m = buildModel(seed === 3 ? 'tiny-xception' : 'mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
      randomiseBatchNorm(m, seed);
      return m;
    });
    const n = 4;
    const x = randomInputs(n * 48 * 48, 11);
    const shape = [n, 48, 48, 1];
    const each = await Promise.all(members.map((m) => tfjsPredict(m, x, shape)));
    const want = each[0].map((_, i) => (each[0][i] + each[1][i] + each[2][i]) / 3);
    assert.ok(maxAbsDiff(each[0], each[1]) > 1e-3, 'members differ');
    const ens = await buildEnsemble(members, 'emotion-ensemble');
    try {
      assert.equal(ens.outputs[0].shape[1], 7);
      assert.equal(ens.getLayer(ENSEMBLE_OUTPUT).getClassName(), 'Average');
      assert.equal(
        ens.countParams(),
        members.reduce((a, m) => a + m.countParams(), 0),
      );
      assert.ok(maxAbsDiff(await tfjsPredict(ens, x, shape), want) <= 1e-6);
      // The members are untouched and independent of the ensemble.
      assert.ok(maxAbsDiff(await tfjsPredict(members[0], x, shape), each[0]) === 0);
      const dir = path.join(tmpDir(), 'ens');
      await saveModel(ens, dir, testMeta('emotion', 48, 1));
      const loaded = await loadModel(dir);
      try {
        assert.ok(maxAbsDiff(await tfjsPredict(loaded.model, x, shape), want) <= 1e-6);
      } finally {
        loaded.model.dispose();
      }
      const { out } = await ortPredict(exportToOnnx(ens), x, shape);
      assert.ok(maxAbsDiff(out, want) <= 1e-4, `onnx vs tfjs ${maxAbsDiff(out, want)}`);
    } finally {
      ens.dispose();
      members.forEach((m) => m.dispose());
    }
  });

  it('rejects fewer than two members and members with different inputs or outputs, naming them', async () => {
    const a = buildModel('tiny-xception', { inputSize: 48, channels: 1, numClasses: 7 });
    const b = buildModel('tiny-xception', { inputSize: 64, channels: 1, numClasses: 7 });
    const c = buildModel('tiny-xception', { inputSize: 48, channels: 1, numClasses: 2 });
    const before = tf.memory().numTensors;
    try {
      await assert.rejects(buildEnsemble([a]), (e: unknown) => e instanceof UserError && /at least 2 models/.test(e.message));
      await assert.rejects(buildEnsemble([a, b]), /member 1 takes \[null,64,64,1\]/);
      await assert.rejects(buildEnsemble([a, c]), /member 1 gives \[null,2\]/);
      assert.equal(tf.memory().numTensors, before);
    } finally {
      [a, b, c].forEach((m) => m.dispose());
    }
  });
});
