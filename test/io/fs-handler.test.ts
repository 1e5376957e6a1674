import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/index.js';
import { registerFileRouter, writeFileAtomic, WriteFileError } from '../../src/io/fs-handler.js';
import { loadModel, saveModel } from '../../src/io/model-store.js';
import { UserError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';
import { testMeta } from '../helpers/meta.js';

await setupBackend('wasm');
const dir = tmpDir();

test('save -> load round trip gives identical predictions and keeps metadata', async () => {
  const m = buildModel('mini-xception', { inputSize: 48, numClasses: 7 });
  // Non-default BN statistics so the moving mean/variance are exercised.
  const x = tf.randomUniform([4, 48, 48, 1], -1, 1, 'float32', 7);
  const out = path.join(dir, 'rt');
  await saveModel(m, out, testMeta('emotion', 48, 1, { arch: 'mini-xception' }));
  assert.ok(fs.existsSync(path.join(out, 'model.json')));
  assert.ok(fs.existsSync(path.join(out, 'weights.bin')));
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp files left',
  );
  const loaded = await loadModel(out);
  assert.equal(loaded.meta.task, 'emotion');
  assert.equal(loaded.meta.arch, 'mini-xception');
  const a = (m.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.model.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(b), Array.from(a));
  m.dispose();
  loaded.model.dispose();
  x.dispose();
});

test('file:// URLs work with plain tfjs save and load', async () => {
  registerFileRouter();
  const m = buildModel('tiny-xception', { inputSize: 32, numClasses: 2 });
  const url = `file://${path.join(dir, 'url-model')}`;
  await m.save(url);
  const back = await tf.loadLayersModel(`${url}/model.json`);
  assert.equal(back.countParams(), m.countParams());
  m.dispose();
  back.dispose();
});

test('unreadable or mismatched model files give clear user errors', async () => {
  await assert.rejects(loadModel(path.join(dir, 'nope')), (e: unknown) => e instanceof UserError && /does not exist/.test(e.message));
  const bad = path.join(dir, 'bad');
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, 'model.json'), '{ not json');
  await assert.rejects(loadModel(bad), (e: unknown) => e instanceof UserError && /not valid JSON/.test(e.message));
  const m = buildModel('tiny-xception', { inputSize: 32, numClasses: 2 });
  const trunc = path.join(dir, 'trunc');
  await m.save(`file://${trunc}`).catch(async () => {
    registerFileRouter();
    await m.save(`file://${trunc}`);
  });
  const w = path.join(trunc, 'weights.bin');
  fs.writeFileSync(w, fs.readFileSync(w).subarray(0, 100));
  await assert.rejects(loadModel(trunc), (e: unknown) => e instanceof UserError && /weights file has 100 bytes/.test(e.message));
  fs.rmSync(w);
  await assert.rejects(loadModel(trunc), (e: unknown) => e instanceof UserError && /weights file .* not found/.test(e.message));
  m.dispose();
});

test('atomic write replaces a file whole and leaves no temp files', () => {
  const f = path.join(dir, 'atomic', 'a.txt');
  writeFileAtomic(f, 'first');
  writeFileAtomic(f, 'second');
  assert.equal(fs.readFileSync(f, 'utf8'), 'second');
  assert.deepEqual(fs.readdirSync(path.dirname(f)), ['a.txt']);
});

test('writeFileAtomic: an unwritable target is a WriteFileError naming it, and no temp file is left', () => {
  const out = tmpDir();
  const asDir = path.join(out, 'd.png');
  fs.mkdirSync(asDir);
  assert.throws(
    () => writeFileAtomic(asDir, 'x'),
    (e: Error) => e instanceof WriteFileError && e instanceof UserError && /^cannot write ".*d\.png": is a directory$/.test(e.message),
  );
  const fileParent = path.join(out, 'plain');
  fs.writeFileSync(fileParent, 'x');
  assert.throws(() => writeFileAtomic(path.join(fileParent, 'a.png'), 'x'), /cannot write ".*plain\/a\.png": a parent of the path is not a directory/);
  // /proc refuses new files (ENOENT) even to root.
  if (fs.existsSync('/proc/self')) assert.throws(() => writeFileAtomic('/proc/x.png', 'x'), /cannot write "\/proc\/x\.png": /);
  assert.deepEqual(fs.readdirSync(out).sort(), ['d.png', 'plain']);
  assert.deepEqual(fs.readdirSync(asDir), []);
  writeFileAtomic(path.join(out, 'ok.png'), 'data');
  assert.equal(fs.readFileSync(path.join(out, 'ok.png'), 'utf8'), 'data');
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.endsWith('.tmp')),
    [],
  );
});
