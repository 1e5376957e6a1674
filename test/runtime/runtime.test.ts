import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { UserError } from '../../src/errors.js';
import { buildModel } from '../../src/framework/zoo.js';
import { saveModel } from '../../src/io/model-store.js';
import { MODEL_ONNX, readOnnxInfo, sourceFingerprint, writeOnnx } from '../../src/io/onnx/model-dir.js';
import { createRuntime, createRuntimeFromModel, OnnxRuntime, parseRuntimeOption, TfjsRuntime } from '../../src/runtime/index.js';
import { maxAbsDiff, randomInputs, randomiseBatchNorm } from '../io/onnx/helpers.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { testMeta } from '../helpers/meta.js';

const META = testMeta('emotion', 48, 1, { arch: 'mini-xception' });

async function saveRandomModel(dir: string, seed: number): Promise<void> {
  const model = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
  try {
    randomiseBatchNorm(model, seed);
    await saveModel(model, dir, META);
  } finally {
    model.dispose();
  }
}

describe('inference runtimes', () => {
  let dir: string;
  const x = randomInputs(5 * 48 * 48, 17);

  before(async () => {
    await setupBackend();
    dir = path.join(tmpDir(), 'emotion');
    await saveRandomModel(dir, 1);
  });

  it('onnx and tfjs runtimes agree within 1e-4 on a saved model, with the same metadata', async () => {
    const onnx = await createRuntime(dir, { runtime: 'onnx' });
    const tfjs = await createRuntime(dir, { runtime: 'tfjs' });
    try {
      assert.ok(onnx instanceof OnnxRuntime);
      assert.ok(tfjs instanceof TfjsRuntime);
      assert.equal(onnx.origin, 'exported');
      assert.deepEqual(onnx.meta, tfjs.meta);
      const a = await onnx.run(x, 5);
      const b = await tfjs.run(x, 5);
      assert.equal(a.length, 5 * 7);
      assert.ok(maxAbsDiff(a, b) <= 1e-4, `max diff ${maxAbsDiff(a, b)}`);
      for (let i = 0; i < 5; i++) assert.ok(Math.abs(a.subarray(i * 7, i * 7 + 7).reduce((s, v) => s + v, 0) - 1) < 1e-5);
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  it('runs big batches in chunks with the same results, and validates batch arguments', async () => {
    const many = randomInputs(21 * 48 * 48, 5);
    const chunked = (await createRuntime(dir, { runtime: 'onnx', maxChunk: 4 })) as OnnxRuntime;
    const whole = (await createRuntime(dir, { runtime: 'onnx', maxChunk: 64 })) as OnnxRuntime;
    try {
      const a = await chunked.run(many, 21);
      const b = await whole.run(many, 21);
      assert.ok(maxAbsDiff(a, b) <= 1e-6);
      // a longer buffer is fine (the first n inputs are used); n = 0 gives nothing
      assert.ok(maxAbsDiff(await whole.run(many, 3), b.subarray(0, 3 * 7)) <= 1e-6);
      assert.equal((await whole.run(many, 0)).length, 0);
      // chunks shared with worker-thread sessions give the same results
      const pooled = (await createRuntime(dir, { runtime: 'onnx', maxChunk: 2, workers: 2 })) as OnnxRuntime;
      try {
        assert.equal(pooled.workers, 2);
        assert.ok(maxAbsDiff(await pooled.run(many, 21), b) <= 1e-6);
        assert.ok(maxAbsDiff(await pooled.run(many, 7), b.subarray(0, 7 * 7)) <= 1e-6);
      } finally {
        await pooled.dispose();
      }
      await assert.rejects(pooled.run(many, 2), /after dispose/);
      await assert.rejects(whole.run(many, 22), RangeError);
      await assert.rejects(whole.run(many, 1.5), RangeError);
    } finally {
      await chunked.dispose();
      await whole.dispose();
    }
  });

  it('uses a shipped model.onnx only while it matches the weights', async () => {
    const d = path.join(tmpDir(), 'shipped');
    await saveRandomModel(d, 2);
    await writeOnnx(d, path.join(d, MODEL_ONNX));
    const info = readOnnxInfo(fs.readFileSync(path.join(d, MODEL_ONNX)));
    assert.equal(info.source, sourceFingerprint(d));
    assert.deepEqual(info.meta, META);
    const shipped = (await createRuntime(d, { runtime: 'onnx' })) as OnnxRuntime;
    assert.equal(shipped.origin, 'shipped');
    const before = await shipped.run(x, 2);
    await shipped.dispose();
    // retrain (new weights): the stale model.onnx is ignored and the model exported afresh
    await saveRandomModel(d, 3);
    const fresh = (await createRuntime(d, { runtime: 'onnx' })) as OnnxRuntime;
    const tfjs = await createRuntime(d, { runtime: 'tfjs' });
    try {
      assert.equal(fresh.origin, 'exported');
      const a = await fresh.run(x, 2);
      assert.ok(maxAbsDiff(a, await tfjs.run(x, 2)) <= 1e-4);
      assert.ok(maxAbsDiff(a, before) > 1e-4, 'new weights must change the outputs');
    } finally {
      await fresh.dispose();
      await tfjs.dispose();
    }
    // a corrupt model.onnx is ignored too
    fs.writeFileSync(path.join(d, MODEL_ONNX), 'not onnx');
    const again = (await createRuntime(d, { runtime: 'onnx' })) as OnnxRuntime;
    assert.equal(again.origin, 'exported');
    await again.dispose();
  });

  it('runs in-memory models and checks labels against outputs', async () => {
    const model = buildModel('tiny-xception', { inputSize: 48, channels: 1, numClasses: 7 });
    const onnx = await createRuntimeFromModel(model, META, { runtime: 'onnx' });
    const tfjs = await createRuntimeFromModel(model, META, { runtime: 'tfjs' });
    try {
      assert.ok(maxAbsDiff(await onnx.run(x, 3), await tfjs.run(x, 3)) <= 1e-4);
      await assert.rejects(createRuntimeFromModel(model, { ...META, labels: ['a', 'b'] }, { runtime: 'onnx' }), /7 outputs but its metadata lists 2 labels/);
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  it('reports missing or broken model directories as user errors', async () => {
    await assert.rejects(createRuntime(path.join(tmpDir(), 'nope'), { runtime: 'onnx' }), (e: Error) => e instanceof UserError && /nope/.test(e.message));
    const broken = tmpDir();
    fs.writeFileSync(path.join(broken, 'model.json'), '{not json');
    await assert.rejects(createRuntime(broken, { runtime: 'onnx' }), (e: Error) => e instanceof UserError && /not valid JSON/.test(e.message));
  });

  it('falls back to tfjs for a model the exporter cannot handle, unless onnx was asked for explicitly', async () => {
    const d = path.join(tmpDir(), 'upsample');
    const inp = tf.input({ shape: [8, 8, 1] });
    const up = tf.layers.upSampling2d({ size: [2, 2], name: 'up' }).apply(inp) as tf.SymbolicTensor;
    const out = tf.layers
      .activation({ activation: 'softmax' })
      .apply(tf.layers.globalAveragePooling2d({}).apply(tf.layers.conv2d({ filters: 2, kernelSize: 3 }).apply(up))) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    await saveModel(model, d, { ...META, task: 'gender', labels: ['woman', 'man'], inputSize: 8 });
    model.dispose();
    const saved = process.env.FACECLS_RUNTIME;
    delete process.env.FACECLS_RUNTIME;
    try {
      const warnings: string[] = [];
      const rt = await createRuntime(d, { warn: (m) => warnings.push(m) });
      assert.equal(rt.name, 'tfjs');
      assert.match(warnings.join('\n'), /runs on tfjs: cannot export layer "up" \(UpSampling2D\)/);
      await rt.dispose();
      await assert.rejects(createRuntime(d, { runtime: 'onnx' }), /cannot export layer "up" \(UpSampling2D\)/);
    } finally {
      if (saved !== undefined) process.env.FACECLS_RUNTIME = saved;
    }
  });

  describe('parseRuntimeOption', () => {
    const saved = process.env.FACECLS_RUNTIME;
    after(() => {
      if (saved === undefined) delete process.env.FACECLS_RUNTIME;
      else process.env.FACECLS_RUNTIME = saved;
    });
    it('accepts onnx and tfjs, defaults to onnx, honours FACECLS_RUNTIME, rejects others naming the source', () => {
      delete process.env.FACECLS_RUNTIME;
      assert.equal(parseRuntimeOption(undefined), 'onnx');
      assert.equal(parseRuntimeOption('TFJS'), 'tfjs');
      assert.equal(parseRuntimeOption(' onnx '), 'onnx');
      process.env.FACECLS_RUNTIME = 'tfjs';
      assert.equal(parseRuntimeOption(undefined), 'tfjs');
      assert.equal(parseRuntimeOption('onnx'), 'onnx');
      assert.throws(
        () => parseRuntimeOption('gpu'),
        (e: Error) => e instanceof UserError && e.reason === 'unknown-runtime' && /^runtime must be one of onnx, tfjs, got "gpu"$/.test(e.message),
      );
      process.env.FACECLS_RUNTIME = 'torch';
      assert.throws(() => parseRuntimeOption(undefined), /FACECLS_RUNTIME must be one of/);
    });
  });

  it('facecls export onnx writes a loadable file, refuses to overwrite without --force, names bad inputs', async () => {
    const out = path.join(tmpDir(), 'm.onnx');
    const r = runCli(['export', 'onnx', dir, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*m\.onnx .*opset 13, emotion model, input 48x48x1/);
    const info = readOnnxInfo(fs.readFileSync(out));
    assert.deepEqual(info.inputs, ['image']);
    assert.deepEqual(info.outputs, ['probabilities']);
    const rt = await OnnxRuntime.create(fs.readFileSync(out), info.meta!);
    const tfjs = await createRuntime(dir, { runtime: 'tfjs' });
    try {
      assert.ok(maxAbsDiff(await rt.run(x, 2), await tfjs.run(x, 2)) <= 1e-4);
    } finally {
      await rt.dispose();
      await tfjs.dispose();
    }
    const again = runCli(['export', 'onnx', dir, '-o', out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists: pass --force/);
    assert.equal(runCli(['export', 'onnx', dir, '-o', out, '--force', '--opset', '17', '--no-fold']).code, 0);
    assert.equal(readOnnxInfo(fs.readFileSync(out)).opset, 17);
    const missing = runCli(['export', 'onnx', path.join(dir, 'missing'), '-o', out + '2']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /facecls: error: model ".*missing"/);
    assert.equal(fs.existsSync(out + '2'), false);
    // without -o: model.onnx next to model.json, which createRuntime then uses
    const inPlace = path.join(tmpDir(), 'inplace');
    fs.cpSync(dir, inPlace, { recursive: true });
    assert.equal(runCli(['export', 'onnx', inPlace]).code, 0);
    const used = (await createRuntime(inPlace, { runtime: 'onnx' })) as OnnxRuntime;
    assert.equal(used.origin, 'shipped');
    await used.dispose();
    const badOpset = runCli(['export', 'onnx', dir, '-o', out + '3', '--opset', '9']);
    assert.equal(badOpset.code, 1);
    assert.match(badOpset.stderr, /--opset must be an integer in \[13, 17\]/);
  });
});
