import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preprocessFace } from '../../src/data/preprocess.js';
import { BLAZEFACE_DEFAULTS, BlazeFaceDetector, dropContained, keepInTile } from '../../src/detect/blazeface.js';
import { HaarDetector } from '../../src/detect/haar.js';
import { createDetector } from '../../src/detect/index.js';
import { addStats, background, EMPTY_STATS, listUtkFaces, matchDetections } from '../../src/detect/labelled-set.js';
import { KEYPOINT_NAMES } from '../../src/detect/types.js';
import { decodeImage } from '../../src/data/decode.js';
import { datasetPath } from '../../src/data/paths.js';
import { iou, nms } from '../../src/detect/nms.js';
import { fitRegion, resizeRgb } from '../../src/detect/resize.js';
import { setupBackend } from '../../src/engine/backend.js';
import { frame, utkSkip } from '../pipeline/fixtures.js';

test('iou and nms', () => {
  assert.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
  assert.equal(iou([0, 0, 10, 10], [20, 20, 5, 5]), 0);
  assert.ok(Math.abs(iou([0, 0, 10, 10], [5, 0, 10, 10]) - 50 / 150) < 1e-12);
  const kept = nms(
    [
      { box: [0, 0, 10, 10], score: 0.9 },
      { box: [1, 0, 10, 10], score: 0.8 },
      { box: [50, 50, 10, 10], score: 0.7 },
    ],
    0.3,
  );
  assert.deepEqual(
    kept.map((d) => d.score),
    [0.9, 0.7],
  );
  const weighted = nms(
    [
      { box: [0, 0, 10, 10], score: 0.5 },
      { box: [2, 0, 10, 10], score: 0.5 },
    ],
    0.3,
    Infinity,
    true,
  );
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
  for (const [x, y] of [
    [0, 0],
    [3999, 2999],
    [2000, 1500],
    [3999, 0],
  ]) {
    assert.ok(
      grid.some((r) => x >= r.x0 && x < r.x0 + r.width && y >= r.y0 && y < r.y0 + r.height),
      `pixel ${x},${y} covered`,
    );
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
      const img = background(640, 480, () => (s = (s * 16807) % 2147483647) / 2147483647);
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

test('containment: a box mostly inside a better face is dropped; the tile rule keeps whole faces of the right size', () => {
  const kept = dropContained(
    [
      { box: [0, 0, 100, 100], score: 0.9 },
      { box: [50, 40, 60, 60], score: 0.8 }, // 0.83 of it inside the first
      { box: [80, 0, 60, 60], score: 0.7 }, // a third inside
      { box: [10, 10, 20, 20], score: 0.95 }, // better than the big one: kept, and it does not drop the big one (a quarter inside)
    ],
    0.5,
  );
  assert.deepEqual(
    kept.map((d) => d.score),
    [0.95, 0.9, 0.7],
  );
  assert.equal(
    dropContained(
      [
        { box: [0, 0, 10, 10], score: 0.9 },
        { box: [0, 0, 5, 5], score: 0.5 },
      ],
      1,
    ).length,
    2,
  );
  // Tile [100, 0, 200, 200] of a 400x200 frame: inner edges at x = 100 and x = 300.
  const t = { x0: 100, y0: 0, width: 200, height: 200 };
  const rule = { edge: 0.1, maxSide: 0.5 };
  assert.equal(keepInTile([150, 50, 40, 40], t, 400, 200, rule), true);
  assert.equal(keepInTile([90, 50, 40, 40], t, 400, 200, rule), false, 'cut by the left inner edge');
  assert.equal(keepInTile([98, 50, 40, 40], t, 400, 200, rule), true, 'within the tolerance');
  assert.equal(keepInTile([150, -5, 40, 40], t, 400, 200, rule), true, 'top edge is the frame edge');
  assert.equal(keepInTile([120, 20, 120, 120], t, 400, 200, rule), false, 'too large for the tile');
  // Weighted NMS averages only boxes at or above blendMin.
  const blended = nms(
    [
      { box: [0, 0, 10, 10], score: 0.9 },
      { box: [2, 0, 10, 10], score: 0.9 },
      { box: [4, 0, 10, 10], score: 0.2 },
    ],
    0.3,
    Infinity,
    true,
    0.5,
  );
  assert.deepEqual(
    blended.map((d) => d.box),
    [[1, 0, 10, 10]],
  );
});

test(
  'BlazeFace keypoints: MediaPipe order (right eye on the image left), eyes above the nose above the mouth, inside the box',
  { skip: utkSkip() },
  async () => {
    const bf = await BlazeFaceDetector.load();
    try {
      for (let i = 0; i < 6; i++) {
        const f = await frame(1, 900 + i, 120, 200);
        const [d] = await bf.detect(f.image);
        assert.ok(d?.keypoints, 'a face with keypoints');
        const k = d.keypoints!;
        assert.deepEqual(Object.keys(k), [...KEYPOINT_NAMES]);
        assert.ok(k.rightEye[0] < k.nose[0] && k.nose[0] < k.leftEye[0], `eyes either side of the nose: ${JSON.stringify(k)}`);
        assert.ok(k.rightEar[0] < k.leftEar[0]);
        assert.ok(Math.max(k.rightEye[1], k.leftEye[1]) < k.nose[1] && k.nose[1] < k.mouth[1], `eyes, nose, mouth top to bottom: ${JSON.stringify(k)}`);
        for (const n of ['rightEye', 'leftEye', 'nose', 'mouth'] as const) {
          const [x, y] = k[n];
          assert.ok(x > d.box[0] && x < d.box[0] + d.box[2] && y > d.box[1] && y < d.box[1] + d.box[3], `${n} inside the box`);
        }
      }
      // Haar has no keypoints.
      const haar = await createDetector('haar');
      const f = await frame(1, 950, 150, 200);
      assert.ok((await haar.detect(f.image)).every((d) => d.keypoints === undefined));
      haar.dispose();
    } finally {
      bf.dispose();
    }
  },
);

test(
  'BlazeFace boxes: extended to the forehead (same bottom), and unchanged by how far below the threshold an evaluation looks',
  { skip: utkSkip() },
  async () => {
    const bf = await BlazeFaceDetector.load();
    try {
      const f = await frame(3, 960, 40, 160);
      const raw = await bf.detect(f.image, { boxTop: 0, tiles: false });
      const ext = await bf.detect(f.image, { tiles: false });
      assert.equal(raw.length, ext.length);
      raw.forEach((r, i) => {
        const e = ext[i];
        assert.ok(Math.abs(e.box[3] - r.box[3] * (1 + BLAZEFACE_DEFAULTS.boxTop)) < 0.05 || e.box[1] === 0, `height x${1 + BLAZEFACE_DEFAULTS.boxTop}`);
        assert.ok(Math.abs(e.box[1] + e.box[3] - (r.box[1] + r.box[3])) < 0.05, 'same bottom edge');
      });
      for (const tiles of ['auto', true, 'dense'] as const) {
        const user = await bf.detect(f.image, { tiles });
        const curve = await bf.detect(f.image, { tiles, minScore: 0.05 });
        assert.ok(curve.length >= user.length);
        assert.deepEqual(
          curve.filter((d) => d.score >= BLAZEFACE_DEFAULTS.scoreThreshold),
          user,
          `tiles ${tiles}`,
        );
      }
    } finally {
      bf.dispose();
    }
  },
);

test('single-face photos give one face: UTKFace chips padded on a plain frame, and no second box on the bare chips', { skip: utkSkip() }, async () => {
  const bf = await BlazeFaceDetector.load();
  const chips = listUtkFaces(datasetPath('utkface'));
  const counts = { padded: [0, 0, 0], bare: [0, 0, 0] };
  try {
    for (let i = 0; i < 60; i++) {
      const chip = await decodeImage(chips[Math.floor((i * chips.length) / 60) + 7]);
      const side = 400;
      const pad = { data: new Uint8Array(side * side * 3).fill(120), width: side, height: side, channels: 3 as const };
      for (let y = 0; y < chip.height; y++) pad.data.set(chip.data.subarray(y * chip.width * 3, (y + 1) * chip.width * 3), ((y + 100) * side + 100) * 3);
      counts.padded[Math.min(2, (await bf.detect(pad)).length)]++;
      counts.bare[Math.min(2, (await bf.detect(chip)).length)]++;
    }
    assert.equal(counts.padded[2] + counts.bare[2], 0, `photos with more than one face: ${JSON.stringify(counts)}`);
    assert.ok(counts.padded[1] >= 58, `padded chips with their face: ${JSON.stringify(counts)}`);
  } finally {
    bf.dispose();
  }
});
