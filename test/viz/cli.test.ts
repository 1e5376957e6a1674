import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { saveModel } from '../../src/io/model-store.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { testMeta } from '../helpers/meta.js';

const dir = tmpDir('facecls-saliency-');
const modelDir = path.join(dir, 'emotion');
const crop = path.join(dir, 'crop.png');

async function fixtures(): Promise<void> {
  if (fs.existsSync(path.join(modelDir, 'model.json'))) return;
  await setupBackend();
  const model = buildModel('mini-xception', { inputSize: 48, numClasses: 7 });
  await saveModel(model, modelDir, testMeta('emotion', 48, 1, { arch: 'mini-xception' }));
  model.dispose();
  // A synthetic "face crop": a bright disc with two dark eyes on a grey ground.
  const w = 90;
  const h = 100;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inFace = (x - 45) ** 2 / 35 ** 2 + (y - 50) ** 2 / 42 ** 2 < 1;
      const eye = (x - 32) ** 2 + (y - 40) ** 2 < 25 || (x - 58) ** 2 + (y - 40) ** 2 < 25;
      const v = eye ? 30 : inFace ? 200 : 110;
      px.set([v, Math.round(v * 0.8), Math.round(v * 0.7)], (y * w + x) * 3);
    }
  }
  await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(crop);
}

test('facecls saliency --crops writes a panel per face and reports the explained class', async () => {
  await fixtures();
  const out = path.join(dir, 'guided.png');
  const r = runCli(['saliency', crop, '-o', out, '--crops', '--model', modelDir, '--method', 'guided-gradcam', '--class', 'Happy', '--cell', '96', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.method, 'guided-gradcam');
  assert.equal(j.faces.length, 1);
  assert.equal(j.faces[0].class, 'happy');
  assert.deepEqual(j.faces[0].box, [0, 0, 90, 100]);
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 3 * 96 + 4 * 6);
  assert.equal(meta.height, 22 + 26 + 96 + 6);
});

test('facecls saliency: no face in the image still writes a panel saying so', async () => {
  await fixtures();
  const out = path.join(dir, 'none.png');
  const r = runCli(['saliency', crop, '-o', out, '--model', modelDir, '--method', 'gradcam']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no faces found/);
  assert.ok(fs.statSync(out).size > 0);
});

test('facecls saliency: bad inputs give one clear error line and exit 1', async () => {
  await fixtures();
  const out = path.join(dir, 'err.png');
  const junk = path.join(dir, 'junk.jpg');
  fs.writeFileSync(junk, Buffer.from('definitely not a jpeg'));
  const cases: Array<[string[], RegExp]> = [
    [['saliency', path.join(dir, 'missing.png'), '-o', out, '--crops', '--model', modelDir], /missing\.png.*no such file/],
    [['saliency', junk, '-o', out, '--crops', '--model', modelDir], /junk\.jpg/],
    [['saliency', crop, '-o', out, '--crops', '--model', modelDir, '--class', 'bored'], /unknown class "bored".*angry, disgust/],
    [['saliency', crop, '-o', out, '--crops', '--model', modelDir, '--method', 'lime'], /unknown method "lime"/],
    [['saliency', crop, '-o', path.join(dir, 'x.jpg'), '--crops', '--model', modelDir], /must be a \.png/],
    [['saliency', crop, '-o', out, '--crops', '--model', path.join(dir, 'nomodel')], /does not exist/],
    [['saliency', crop, '-o', out, '--crops', '--model', modelDir, '--task', 'gender'], /is for the emotion task, not gender/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /^facecls: error: /);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.ok(!fs.existsSync(out), 'nothing written on error');
});

test('facecls bench saliency --json: a row per model, batch and method with a forward baseline', () => {
  const r = runCli(['bench', 'saliency', '--json', '--batch', '1', '--min-ms', '0']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.rows.length, 2 * 4);
  for (const row of j.rows) {
    assert.ok(row.msPerFace > 0 && row.cpuMsPerFace >= 0 && row.runs >= 10, JSON.stringify(row));
    if (row.method !== 'forward') assert.ok(row.vsForward > 0);
  }
  assert.deepEqual([...new Set(j.rows.map((x: { inputSize: number }) => x.inputSize))], [48, 64]);
});
