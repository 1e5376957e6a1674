import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preprocessFace } from '../../src/data/preprocess.js';
import { BlazeFaceDetector } from '../../src/detect/blazeface.js';
import { HaarDetector } from '../../src/detect/haar.js';
import { createDetector } from '../../src/detect/index.js';
import { addStats, background, EMPTY_STATS, matchDetections } from '../../src/detect/labelled-set.js';
import { iou, nms } from '../../src/detect/nms.js';
import { fitRegion, resizeRgb } from '../../src/detect/resize.js';
import { setupBackend } from '../../src/engine/backend.js';
import { frame, utkSkip } from '../pipeline/fixtures.js';

test('iou and nms', () => {
  assert.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
  assert.equal(iou([0, 0, 10, 10], [20, 20, 5, 5]), 0);
  assert.ok(Math.abs(iou([0, 0, 10, 10], [5, 0, 10, 10]) - 50 / 150) < 1e-12);
  const kept = nms([{ box: [0, 0, 10, 10], score: 0.9 }, { box: [1, 0, 10, 10], score: 0.8 }, { box: [50, 50, 10, 10], score: 0.7 }], 0.3);
  assert.deepEqual(kept.map((d) => d.score), [0.9, 0.7]);
  const weighted = nms([{ box: [0, 0, 10, 10], score: 0.5 }, { box: [2, 0, 10, 10], score: 0.5 }], 0.3, Infinity, true);
  assert.deepEqual(weighted[0].box, [1, 0, 10, 10]);
});

test('the detector downscale equals preprocessFace on the same region (area filter, letterbox and tiles)', () => {
  const img = { data: new Uint8Array(64 * 48 * 3).map((_, i) => (i * 37) % 256), width: 64, height: 48, channels: 3 as const };
  for (const region of [...BlazeFaceDetector.regions(64, 48, 'letterbox', true), fitRegion(64, 48, 'stretch')]) {
    const ours = new Float32Array(16 * 16 * 3);
    resizeRgb(img, 16, ours, region);
    const ref = preprocessFace(img, { inputSize: 16, channels: 3, box: [region.x0, region.y0, region.width, region.height] });
    // Inside the frame they agree (outside, we pad black where preprocessFace replicates edges).
    const y0 = Math.ceil((-region.y0 / region.height) * 16);
    for (let y = y0; y < 16 - y0; y++) for (let j = 0; j < 48; j++) assert.ok(Math.abs(ours[y * 48 + j] - ref[y * 48 + j]) < 1e-5);
  }
  assert.equal(BlazeFaceDetector.regions(640, 480, 'letterbox', true).length, 3);
  assert.equal(BlazeFaceDetector.regions(500, 500, 'letterbox', true).length, 1);
  // Large photos: a grid of overlapping 1024 px tiles covering the whole image.
  const grid = BlazeFaceDetector.regions(4000, 3000, 'letterbox', true).slice(1);
  assert.equal(grid.length, 20);
  for (const [x, y] of [[0, 0], [3999, 2999], [2000, 1500], [3999, 0]]) {
    assert.ok(grid.some((r) => x >= r.x0 && x < r.x0 + r.width && y >= r.y0 && y < r.y0 + r.height), `pixel ${x},${y} covered`);
  }
});

test('BlazeFace on onnxruntime equals BlazeFace on tfjs', async () => {
  await setupBackend();
  const a = await BlazeFaceDetector.load({ engine: 'onnx' });
  const b = await BlazeFaceDetector.load({ engine: 'tfjs' });
  try {
    assert.equal(a.engine, 'onnx');
    assert.equal(b.engine, 'tfjs');
    const x = new Float32Array(256 * 256 * 3).map((_, i) => Math.sin(i * 0.0007));
    const [ra, rb] = [await a.runNet(x), await b.runNet(x)];
    assert.equal(ra.scores.length, 896);
    assert.equal(ra.regs.length, 896 * 16);
    for (let i = 0; i < ra.regs.length; i++) assert.ok(Math.abs(ra.regs[i] - rb.regs[i]) < 1e-2, `regressor ${i}`);
    for (let i = 0; i < ra.scores.length; i++) assert.ok(Math.abs(ra.scores[i] - rb.scores[i]) < 1e-2, `score ${i}`);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('detection on composed UTKFace frames: recall and IoU (BlazeFace default, Haar as in the paper)', { skip: utkSkip() }, async () => {
  const bf = await createDetector('blazeface');
  const haar = await createDetector('haar');
  let sb = EMPTY_STATS;
  let sh = EMPTY_STATS;
  try {
    for (let i = 0; i < 12; i++) {
      const f = await frame(1 + (i % 3), 700 + i);
      sb = addStats(sb, matchDetections(f.faces, await bf.detect(f.image)));
      sh = addStats(sh, matchDetections(f.faces, await haar.detect(f.image)));
    }
    const meanIou = (s: typeof sb) => s.ious.reduce((a, b) => a + b, 0) / s.ious.length;
    assert.equal(sb.truth, 24);
    assert.ok(sb.truePositives / sb.truth >= 0.9, `BlazeFace recall ${sb.truePositives}/${sb.truth}`);
    assert.ok(sb.truePositives / sb.detected >= 0.85, `BlazeFace precision ${sb.truePositives}/${sb.detected}`);
    assert.ok(meanIou(sb) >= 0.65, `BlazeFace mean IoU ${meanIou(sb)}`);
    assert.ok(sh.truePositives / sh.truth >= 0.6, `Haar recall ${sh.truePositives}/${sh.truth}`);
    assert.ok(meanIou(sh) >= 0.65, `Haar mean IoU ${meanIou(sh)}`);
    // Grey and RGBA frames work too.
    const f = await frame(2, 42);
    const grey = { data: new Uint8Array(640 * 480), width: 640, height: 480, channels: 1 as const };
    const rgba = { data: new Uint8Array(640 * 480 * 4), width: 640, height: 480, channels: 4 as const };
    for (let p = 0; p < 640 * 480; p++) {
      const [r, g, b] = [f.image.data[p * 3], f.image.data[p * 3 + 1], f.image.data[p * 3 + 2]];
      grey.data[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
      rgba.data.set([r, g, b, 255], p * 4);
    }
    for (const d of [bf, haar]) {
      // RGBA gives exactly the RGB result; grey (luma) finds the faces too.
      assert.deepEqual(await d.detect(rgba), await d.detect(f.image), `${d.name} on RGBA`);
      assert.ok(matchDetections(f.faces, await d.detect(grey)).truePositives >= 1, `${d.name} on grey`);
    }
    // Minimum face size and maximum face count.
    const small = Math.min(...f.faces.map((b) => b[2]));
    assert.ok((await bf.detect(f.image, { minFaceSize: small + 40 })).length < 2);
    assert.equal((await bf.detect(f.image, { maxFaces: 1 })).length, 1);
  } finally {
    bf.dispose();
    haar.dispose();
  }
});

test('no faces on face-free backgrounds', async () => {
  const bf = await createDetector('blazeface');
  const haar = (await createDetector('haar')) as HaarDetector;
  try {
    let n = 0;
    for (let seed = 1; seed <= 5; seed++) {
      let s = seed * 7919;
      const img = background(640, 480, () => ((s = (s * 16807) % 2147483647) / 2147483647));
      n += (await bf.detect(img)).length + (await haar.detect(img)).length;
    }
    assert.ok(n <= 1, `${n} detections on 5 face-free backgrounds`);
    const flat = { data: new Uint8Array(32 * 32 * 3).fill(128), width: 32, height: 32, channels: 3 as const };
    assert.deepEqual(await bf.detect(flat), []);
    assert.deepEqual(await haar.detect(flat), []);
  } finally {
    bf.dispose();
    haar.dispose();
  }
});

test('unknown detector is a user error', async () => {
  await assert.rejects(createDetector('yolo'), /unknown detector "yolo"/);
});

test('BlazeFace gives the same boxes when detections overlap in time (the server and evaluation run them concurrently)', { skip: utkSkip() }, async () => {
  await setupBackend();
  const bf = await createDetector('blazeface');
  try {
    const frames = await Promise.all(Array.from({ length: 8 }, (_, i) => frame(1 + (i % 3), 900 + i)));
    const one = (ds: Awaited<ReturnType<typeof bf.detect>>) => JSON.stringify(ds.map((d) => [d.box, d.score]));
    const sequential: string[] = [];
    for (const f of frames) sequential.push(one(await bf.detect(f.image)));
    const concurrent = (await Promise.all(frames.map((f) => bf.detect(f.image)))).map(one);
    assert.deepEqual(concurrent, sequential);
  } finally {
    bf.dispose();
  }
});
