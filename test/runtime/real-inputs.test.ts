/**
 * onnxruntime vs tfjs on real preprocessed faces (FER-2013, UTKFace), and on the shipped models in
 * models/ (which must also ship an up-to-date model.onnx).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { decodeImage } from '../../src/data/decode.js';
import { datasetPath, projectRoot } from '../../src/data/paths.js';
import { preprocessFace } from '../../src/data/preprocess.js';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { loadKerasModel } from '../../src/io/keras/import.js';
import { exportToOnnx } from '../../src/io/onnx/exporter.js';
import { MODEL_ONNX, shippedOnnx } from '../../src/io/onnx/model-dir.js';
import { createRuntime, createRuntimeFromModel, OnnxRuntime, type InferenceRuntime } from '../../src/runtime/index.js';
import { maxAbsDiff, randomInputs, randomiseBatchNorm } from '../io/onnx/helpers.js';
import { testMeta } from '../helpers/meta.js';

/** The first `perFolder` images of each sub-folder (sorted), or of the folder itself. */
function sampleFiles(dir: string, perFolder: number): string[] {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  const subdirs = entries.filter((e) => e.isDirectory());
  if (subdirs.length === 0)
    return entries
      .filter((e) => e.isFile() && /\.(jpe?g|png)$/i.test(e.name))
      .slice(0, perFolder)
      .map((e) => path.join(dir, e.name));
  return subdirs.flatMap((d) => sampleFiles(path.join(dir, d.name), perFolder));
}

async function realBatch(files: string[], inputSize: number, channels: 1 | 3): Promise<Float32Array> {
  const per = inputSize * inputSize * channels;
  const out = new Float32Array(files.length * per);
  for (const [i, f] of files.entries()) preprocessFace(await decodeImage(f, { grey: channels === 1 }), { inputSize, channels }, out, i * per);
  return out;
}

async function assertAgree(a: InferenceRuntime, b: InferenceRuntime, x: Float32Array, n: number, what: string): Promise<void> {
  const ya = await a.run(x, n);
  const yb = await b.run(x, n);
  const d = maxAbsDiff(ya, yb);
  assert.ok(d <= 1e-4, `${what}: max |onnx - tfjs| = ${d}`);
}

const FER = datasetPath('fer2013', 'test');
const UTK = datasetPath('utkface');

describe('onnxruntime vs tfjs on real inputs and shipped models', () => {
  before(async () => {
    await setupBackend();
  });

  it('FER-2013 faces through an emotion mini-Xception (48x48 grey)', async (t) => {
    if (!fs.existsSync(FER)) return t.skip(`FER-2013 not found at ${FER} (set FACECLS_DATASETS)`);
    const files = sampleFiles(FER, 2);
    const x = await realBatch(files, 48, 1);
    const meta = testMeta('emotion', 48, 1);
    const model = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
    randomiseBatchNorm(model, 8);
    const onnx = await createRuntimeFromModel(model, meta, { runtime: 'onnx' });
    const tfjs = await createRuntimeFromModel(model, meta, { runtime: 'tfjs' });
    try {
      await assertAgree(onnx, tfjs, x, files.length, 'FER-2013');
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  it('UTKFace faces through a gender mini-Xception (64x64 RGB)', async (t) => {
    if (!fs.existsSync(UTK)) return t.skip(`UTKFace not found at ${UTK} (set FACECLS_DATASETS)`);
    const files = sampleFiles(UTK, 6);
    const x = await realBatch(files, 64, 3);
    const meta = testMeta('gender', 64, 3);
    const model = buildModel('mini-xception', { inputSize: 64, channels: 3, numClasses: 2 });
    randomiseBatchNorm(model, 9);
    const onnx = await createRuntimeFromModel(model, meta, { runtime: 'onnx' });
    const tfjs = await createRuntimeFromModel(model, meta, { runtime: 'tfjs' });
    try {
      await assertAgree(onnx, tfjs, x, files.length, 'UTKFace');
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  it("the paper's trained Keras gender mini-Xception (imported) on UTKFace faces", async (t) => {
    const file = datasetPath('keras', 'gender_mini_XCEPTION.21-0.95.hdf5');
    if (!fs.existsSync(file)) return t.skip(`${file} not found (set FACECLS_DATASETS)`);
    if (!fs.existsSync(UTK)) return t.skip(`UTKFace not found at ${UTK} (set FACECLS_DATASETS)`);
    const { model, meta } = await loadKerasModel(file);
    const files = sampleFiles(UTK, 16);
    const x = await realBatch(files, meta.inputSize, meta.channels as 1 | 3);
    const onnx = await OnnxRuntime.create(exportToOnnx(model, { meta }), meta);
    const tfjs = await createRuntimeFromModel(model, meta, { runtime: 'tfjs' });
    try {
      await assertAgree(onnx, tfjs, x, files.length, 'Keras gender model');
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  const modelsDir = path.join(projectRoot(), 'models');
  const shipped = fs.existsSync(modelsDir)
    ? fs
        .readdirSync(modelsDir)
        .filter((d) => fs.existsSync(path.join(modelsDir, d, 'model.json')))
        .sort()
    : [];
  if (shipped.length === 0) {
    it('shipped models', (t) => t.skip(`no shipped models in ${modelsDir} yet`));
  }
  for (const name of shipped) {
    const dir = path.join(modelsDir, name);
    it(`shipped model ${name}: ships an up-to-date ${MODEL_ONNX} that equals tfjs on real and random inputs`, async () => {
      const exported = (await createRuntime(dir, { runtime: 'onnx', useShippedOnnx: false })) as OnnxRuntime;
      const tfjs = await createRuntime(dir, { runtime: 'tfjs' });
      try {
        const { inputSize: s, channels: c } = tfjs.meta;
        await assertAgree(exported, tfjs, randomInputs(4 * s * s * c, 4), 4, `${name} random`);
        const source = tfjs.meta.task === 'gender' || tfjs.meta.task === 'age' ? UTK : FER;
        if (fs.existsSync(source) && (c === 1 || c === 3)) {
          const files = sampleFiles(source, source === UTK ? 8 : 2);
          await assertAgree(exported, tfjs, await realBatch(files, s, c), files.length, `${name} real`);
        }
        assert.ok(
          shippedOnnx(dir),
          `${path.join(dir, MODEL_ONNX)} is missing or was exported from other weights: run \`facecls export onnx ${path.relative(projectRoot(), dir)}\``,
        );
        const rt = (await createRuntime(dir, { runtime: 'onnx' })) as OnnxRuntime;
        try {
          assert.equal(rt.origin, 'shipped');
          await assertAgree(rt, tfjs, randomInputs(2 * s * s * c, 5), 2, `${name} shipped onnx`);
        } finally {
          await rt.dispose();
        }
      } finally {
        await exported.dispose();
        await tfjs.dispose();
      }
    });
  }
});
