import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import type { Box, RawImage } from '../../src/data/preprocess.js';
import { tf } from '../../src/engine/backend.js';
import { FaceClassifier } from '../../src/pipeline/face-classifier.js';
import { SaliencyOverlay } from '../../src/pipeline/saliency-overlay.js';
import type { FaceResult } from '../../src/pipeline/types.js';
import { TfjsRuntime } from '../../src/runtime/tfjs.js';
import { explainFaces } from '../../src/viz/explain.js';
import { blendSaliency } from '../../src/viz/overlay.js';
import { randomModels } from './fixtures.js';

/** A 160x120 RGB frame with smooth structure (a random network's gradients are not all zero). */
function testFrame(): RawImage {
  const width = 160;
  const height = 120;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = 128 + 90 * Math.sin(x / 7) * Math.cos(y / 5);
      data.set([v, 255 - v, (x * 3 + y) % 256], (y * width + x) * 3);
    }
  }
  return { data, width, height, channels: 3 };
}

test('SaliencyOverlay: maps of the class each face shows, blended into a copy of the frame over the classifier crop, no tensor leaks', async () => {
  const m = await randomModels();
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, runtime: 'tfjs' });
  const overlay = await SaliencyOverlay.load(fc, { task: 'emotion', method: 'guided' });
  try {
    const img = testFrame();
    const before = new Uint8Array(img.data);
    const boxes: Box[] = [
      [10, 20, 50, 50],
      [90, 30, 60, 60],
    ];
    const rt = fc.emotion;
    assert.ok(rt instanceof TfjsRuntime);
    const crops = boxes.map((b) => fc.cropBox(b, fc.emotion));
    // The label shown is deliberately not the network's top class: the map must follow the label.
    const predicted = explainFaces(rt.model, rt.meta, img, crops, { method: 'guided' });
    const shown = predicted.map((p) => (p.predicted.label === 'happy' ? 'sad' : 'happy'));
    const faces: FaceResult[] = boxes.map((box, i) => ({ box, score: 0.9, emotion: { label: shown[i], scores: {} } }));

    const tensors = tf.memory().numTensors;
    const out = overlay.apply(img, faces);
    assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks');
    assert.deepEqual(img.data, before, 'input frame untouched');
    assert.deepEqual([out.width, out.height, out.channels], [160, 120, 3]);

    const expected = { ...img, channels: 3 as const, data: new Uint8Array(img.data) };
    const maps = explainFaces(rt.model, rt.meta, img, crops, { method: 'guided', className: shown });
    assert.deepEqual(
      maps.map((f) => f.label),
      shown,
    );
    blendSaliency(expected, maps);
    assert.deepEqual(out.data, expected.data, 'same maps and blend as src/viz');
    const ofPredicted = { ...img, channels: 3 as const, data: new Uint8Array(img.data) };
    blendSaliency(ofPredicted, predicted);
    assert.notDeepEqual(out.data, ofPredicted.data, 'not the map of the top class');

    // Outside the crop boxes nothing changes.
    for (let y = 0; y < 120; y++) {
      for (let x = 0; x < 160; x++) {
        if (crops.some(([bx, by, bw, bh]) => x >= Math.floor(bx) && x < Math.ceil(bx + bw) && y >= Math.floor(by) && y < Math.ceil(by + bh))) continue;
        const i = (y * 160 + x) * 3;
        assert.deepEqual([...out.data.subarray(i, i + 3)], [...before.subarray(i, i + 3)], `pixel ${x},${y}`);
      }
    }
    assert.equal(overlay.apply(img, []), img, 'no faces: the frame as is');
  } finally {
    await overlay.dispose();
    await fc.dispose();
  }
});

test('SaliencyOverlay: a task whose model is not loaded is a user error', async () => {
  const m = await randomModels();
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, gender: false });
  try {
    await assert.rejects(
      SaliencyOverlay.load(fc, { task: 'gender', method: 'gradcam' }),
      (e: Error) => e instanceof UserError && e.reason === 'task-disabled' && /saliency of the gender task needs the gender model/.test(e.message),
    );
  } finally {
    await fc.dispose();
  }
});
