import { test } from 'node:test';
import { KEYPOINT_NAMES } from '../../src/detect/types.js';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { cliErrorMessage } from '../../src/cli/errors.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { matchDetections } from '../../src/detect/labelled-set.js';
import { EMOTION_LABELS, GENDER_LABELS } from '../../src/io/model-store.js';
import { annotatePng } from '../../src/pipeline/annotate.js';
import { toAgeEstimate } from '../../src/core/age.js';
import { preprocessBatch } from '../../src/data/preprocess.js';
import { defaultModelDir, FaceClassifier } from '../../src/pipeline/face-classifier.js';
import { FaceTracker } from '../../src/pipeline/tracker.js';
import type { FaceResult } from '../../src/pipeline/types.js';
import { tmpDir } from '../helpers/tmp.js';
import { encoder, frame, pngBomb, randomModels, utkSkip } from './fixtures.js';

function checkShape(f: FaceResult): void {
  assert.deepEqual(
    Object.keys(f)
      .sort()
      .filter((k) => k !== 'keypoints'),
    ['age', 'box', 'emotion', 'gender', 'score'],
  );
  if (f.keypoints) assert.deepEqual(Object.keys(f.keypoints), [...KEYPOINT_NAMES]);
  assert.equal(f.box.length, 4);
  assert.ok(f.score > 0 && f.score <= 1);
  assert.deepEqual(Object.keys(f.emotion!.scores), [...EMOTION_LABELS]);
  assert.deepEqual(Object.keys(f.gender!.scores), [...GENDER_LABELS]);
  for (const t of [f.emotion!, f.gender!]) {
    const sum = Object.values(t.scores).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
    assert.equal(t.scores[t.label], Math.max(...Object.values(t.scores)), 'label is the most probable class');
  }
  const { years, range } = f.age!;
  assert.ok(years >= 1 && years <= 90 && Math.round(years * 10) === years * 10, `age ${years}: within the anchors, 0.1 year steps`);
  assert.ok(Number.isInteger(range[0]) && Number.isInteger(range[1]) && range[0] <= years && years <= range[1], `range [${range}] around ${years}`);
}

test('FaceClassifier: every face, result shape, one batched step for all three models, any image format', { skip: utkSkip() }, async () => {
  const m = await randomModels();
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender });
  const dir = tmpDir();
  try {
    const f = await frame(3, 11);
    const calls: Array<[number, number]> = [];
    // The shipped age model (models/age) joins by default: emotion, gender and age in one step.
    assert.ok(fc.age && fc.dirs.age === defaultModelDir('age'));
    assert.deepEqual(fc.group.runtimes, [fc.emotion, fc.gender, fc.age]);
    const run = fc.group.run.bind(fc.group);
    fc.group.run = (batches, n) => (calls.push([batches.length, n]), run(batches, n));
    const faces = await fc.classify(f.image);
    assert.deepEqual(calls, [[3, 3]], 'all faces of the frame, all three models, in one batched step');
    // The age is the age model's own output on the crop rule's crops, through the one preprocessing.
    const img = await fc.decode(f.image);
    const crops = fc.crops(faces, 'age');
    const probs = await fc.age!.run(preprocessBatch(img, crops, { inputSize: fc.age!.meta.inputSize, channels: 1 }), faces.length);
    const k = fc.age!.meta.labels.length;
    faces.forEach((x, i) => {
      const direct = toAgeEstimate(probs.subarray(i * k, (i + 1) * k), fc.age!.meta);
      // (The group shares the batch across threads in chunks: float sums may differ in the last bits.)
      assert.ok(Math.abs(x.age!.years - direct.years) <= 0.1 + 1e-9, `face ${i}: ${x.age!.years} vs ${direct.years}`);
      assert.ok(Math.abs(x.age!.range[0] - direct.range[0]) <= 1 && Math.abs(x.age!.range[1] - direct.range[1]) <= 1);
    });
    // A per-call subset (the server's age=false): no age, the age model does not run.
    const noAge = await fc.classifyTimed(f.image, { tasks: ['emotion', 'gender'] });
    assert.ok(noAge.faces.every((x) => x.age === undefined && x.emotion && x.gender));
    assert.deepEqual(calls, [[3, 3]], 'a subset runs outside the group');
    assert.equal(
      matchDetections(
        f.faces,
        faces.map((x) => ({ box: x.box, score: x.score })),
      ).truePositives,
      3,
    );
    faces.forEach(checkShape);
    assert.ok(
      faces.every((x) => x.keypoints),
      'BlazeFace gives keypoints',
    );
    assert.equal(JSON.parse(JSON.stringify(faces)).length, 3);
    // Detection alone: the same boxes and keypoints, no classifier step.
    const detected = await fc.detect(f.image);
    assert.deepEqual(
      detected,
      faces.map((x) => ({ box: x.box, score: x.score, keypoints: x.keypoints })),
    );
    assert.deepEqual(calls, [[3, 3]], 'detect runs no classifier');

    // Encoded inputs: path, buffer; PNG grey/RGBA/16-bit, WebP, GIF, CMYK JPEG, EXIF-rotated JPEG.
    const one = await frame(1, 12, 120, 160);
    const enc = encoder(one.image);
    const files: Record<string, Buffer> = {
      'a.jpg': await enc.clone().jpeg().toBuffer(),
      'grey.png': await enc.clone().grayscale().png().toBuffer(),
      'rgba.png': await enc.clone().ensureAlpha(0.8).png().toBuffer(),
      '16bit.png': await enc.clone().toColourspace('rgb16').png().toBuffer(),
      'b.webp': await enc.clone().webp().toBuffer(),
      'c.gif': await enc.clone().gif().toBuffer(),
      'cmyk.jpg': await enc.clone().toColourspace('cmyk').jpeg().toBuffer(),
    };
    for (const [name, buf] of Object.entries(files)) {
      fs.writeFileSync(path.join(dir, name), buf);
      const r = await fc.classifyTimed(path.join(dir, name));
      assert.equal(r.width, 640, name);
      assert.equal(matchDetections(one.faces, r.faces).truePositives, 1, `${name}: face found`);
      r.faces.forEach(checkShape);
    }
    assert.equal((await fc.classify(files['a.jpg'])).length, 1, 'buffer input');
    // EXIF orientation 6 (rotate 90 clockwise to display): the result is in upright coordinates.
    const rotated = path.join(dir, 'rot.jpg');
    await encoder(one.image).rotate(-90).jpeg().withMetadata({ orientation: 6 }).toFile(rotated);
    const rr = await fc.classifyTimed(rotated);
    assert.deepEqual([rr.width, rr.height], [640, 480]);
    assert.equal(matchDetections(one.faces, rr.faces).truePositives, 1, 'EXIF-rotated face found where it is upright');

    // --crops path: one face per crop, the face found in it (a face under a quarter of the crop's side is not
    // taken for the crop's face: then the whole image is the face).
    const crop = await fc.classify(one.image, { crop: true });
    assert.equal(crop.length, 1);
    const whole = JSON.stringify(crop[0].box) === JSON.stringify([0, 0, 640, 480]);
    assert.ok(whole || matchDetections(one.faces, crop).truePositives === 1, `crop box ${crop[0].box}`);
  } finally {
    await fc.dispose();
  }
});

test('bad inputs: clear errors naming the input; no faces is an empty list', async () => {
  const m = await randomModels();
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, maxPixels: 50_000_000 });
  const dir = tmpDir();
  try {
    const good = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#777' } })
      .jpeg()
      .toBuffer();
    fs.writeFileSync(path.join(dir, 'empty.jpg'), '');
    fs.writeFileSync(path.join(dir, 'text.jpg'), 'this is not an image\n');
    fs.writeFileSync(path.join(dir, 'trunc.jpg'), good.subarray(0, Math.floor(good.length / 3)));
    fs.writeFileSync(path.join(dir, 'bomb.png'), pngBomb());
    const cases: Array<[string, RegExp]> = [
      ['empty.jpg', /empty/],
      ['text.jpg', /not an image|unsupported/],
      ['trunc.jpg', /trunc|premature|corrupt|VipsJpeg|end of/i],
      ['bomb.png', /pixel limit/],
      ['missing.jpg', /no such file/],
    ];
    for (const [name, why] of cases) {
      const file = path.join(dir, name);
      await assert.rejects(fc.classify(file), (err: Error) => {
        assert.equal(err.name, 'ImageDecodeError', `${name}: ${err.message}`);
        assert.ok(err.message.includes(file), `${name}: message names the file: ${err.message}`);
        assert.match(err.message, why, name);
        return true;
      });
    }
    assert.deepEqual(await fc.classify(good), [], 'no faces: empty list');
  } finally {
    await fc.dispose();
  }
});

test('missing default model: an error naming the folder, with a reason the CLI hints from', async () => {
  await assert.rejects(
    FaceClassifier.load({ emotionModel: '/nonexistent/emotion' }),
    (e: Error) => e instanceof UserError && e.reason === 'emotion-model-missing' && e.message === 'no emotion model at "/nonexistent/emotion"',
  );
  assert.match(cliErrorMessage(new UserError('no emotion model at "m"', { reason: 'emotion-model-missing' })), /--emotion-model <dir>.*--no-emotion/);
});

test('tracker: ids follow faces by IoU; smoothing averages a window', () => {
  const face = (x: number, happy: number): FaceResult => ({
    box: [x, 10, 50, 50],
    score: 0.9,
    emotion: { label: happy > 0.5 ? 'happy' : 'sad', scores: { happy, sad: 1 - happy } },
  });
  const t = new FaceTracker({ window: 3 });
  const a = t.update([face(0, 0.9), face(200, 0.2)]);
  assert.deepEqual(
    a.map((f) => f.track),
    [1, 2],
  );
  const b = t.update([face(205, 0.1), face(3, 0.1)]); // order swapped, small motion
  assert.deepEqual(
    b.map((f) => f.track),
    [2, 1],
  );
  assert.equal(b[1].emotion!.label, 'happy', 'mean of 0.9 and 0.1 with the tie broken by the first label');
  const c = t.update([face(6, 0.0), face(400, 0.5)]);
  assert.deepEqual(
    c.map((f) => f.track),
    [1, 3],
  );
  assert.equal(c[0].emotion!.label, 'sad');
  assert.ok(Math.abs(c[0].emotion!.scores.happy - 1 / 3) < 1e-3);
  const raw = new FaceTracker().update([face(0, 0.7)]);
  assert.equal(raw[0].emotion!.scores.happy, 0.7);
});

test('FaceTracker smooths the age of a track: mean years (0.1) and range ends (whole years)', () => {
  const t = new FaceTracker({ window: 2 });
  const at = (years: number, range: [number, number]): FaceResult => ({ box: [10, 10, 50, 50], score: 0.9, age: { years, range } });
  assert.deepEqual(t.update([at(30, [22, 39])])[0].age, { years: 30, range: [22, 39] });
  assert.deepEqual(t.update([at(33.3, [25, 44])])[0].age, { years: 31.7, range: [24, 42] });
  assert.deepEqual(t.update([at(40, [29, 54])])[0].age, { years: 36.7, range: [27, 49] }, 'the window holds the last 2 frames');
  assert.equal(new FaceTracker({ window: 3 }).update([{ box: [0, 0, 5, 5], score: 1 }])[0].age, undefined, 'no age, none made up');
});

test('annotatePng draws onto a same-size PNG', async () => {
  const img = { data: new Uint8Array(200 * 150 * 3).fill(40), width: 200, height: 150, channels: 3 as const };
  const face: FaceResult = {
    box: [20, 30, 60, 60],
    score: 0.9,
    emotion: { label: 'happy', scores: { angry: 0, disgust: 0, fear: 0, happy: 0.9, sad: 0.05, surprise: 0.05, neutral: 0 } },
    gender: { label: 'woman', scores: { woman: 0.8, man: 0.2 } },
  };
  const png = await annotatePng(img, [face]);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [200, 150]);
  const px = (x: number, y: number) => [...data.subarray((y * 200 + x) * info.channels, (y * 200 + x) * info.channels + 3)];
  assert.notDeepEqual(px(20, 60), [40, 40, 40], 'box edge drawn');
  assert.deepEqual(px(50, 60), [40, 40, 40], 'inside the box untouched');
});

test("crop margins: a model card margin is converted to each detector's box framing", async () => {
  const { detectorMargin, DEFAULT_CROP_MARGIN } = await import('../../src/pipeline/face-classifier.js');
  assert.deepEqual(DEFAULT_CROP_MARGIN, { blazeface: -0.024, haar: -0.015 });
  assert.equal(detectorMargin('blazeface', 0.3), 0.262);
  const m = await randomModels();
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, detector: 'haar' });
  try {
    assert.equal(fc.cropMargin(fc.gender), -0.015);
    fc.gender!.meta.cropMargin = 0.3;
    assert.equal(fc.cropMargin(fc.gender), 0.277);
  } finally {
    await fc.dispose();
  }
  const fixed = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, cropMargin: 0.2 });
  assert.equal(fixed.cropMargin(fixed.gender), 0.2);
  await fixed.dispose();
});

test('no tensor leaks: tfjs detector engine and tfjs runtime, repeated frames', { skip: utkSkip() }, async () => {
  const { tf } = await import('../../src/engine/backend.js');
  const { BlazeFaceDetector } = await import('../../src/detect/blazeface.js');
  const m = await randomModels();
  const detector = await BlazeFaceDetector.load({ engine: 'tfjs' });
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, runtime: 'tfjs', detector });
  try {
    const f = await frame(2, 13);
    assert.equal((await fc.classify(f.image)).length, 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await fc.classify(f.image);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await fc.dispose();
    detector.dispose();
  }
});
