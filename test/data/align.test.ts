import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eyeLineAngle, faceCrop, MIN_ALIGN_ANGLE, preprocessBatch, preprocessFace, squareBox, type RawImage } from '../../src/data/preprocess.js';

/** A 200x200 grey image with a bright bar through the centre at `angle` (radians, y down). */
function bar(angle: number): RawImage {
  const data = new Uint8Array(200 * 200).fill(20);
  for (let y = 0; y < 200; y++) {
    for (let x = 0; x < 200; x++) {
      const u = x - 100;
      const v = y - 100;
      // Distance from the line through the centre at `angle`.
      if (Math.abs(-Math.sin(angle) * u + Math.cos(angle) * v) < 6) data[y * 200 + x] = 230;
    }
  }
  return { data, width: 200, height: 200, channels: 1 };
}

test('a crop turned by the eye-line angle levels a tilted line; no angle leaves the upright path unchanged', () => {
  const angle = 0.4;
  const img = bar(angle);
  const box: [number, number, number, number] = [40, 40, 120, 120];
  const out = preprocessFace(img, { inputSize: 24, box, angle });
  // Row 12 (the centre) is bright all along, rows 4 and 20 dark all along.
  const row = (r: number) => Array.from(out.subarray(r * 24 + 2, r * 24 + 22));
  assert.ok(
    row(12).every((v) => v > 0.3),
    `centre row ${row(12).map((v) => v.toFixed(2))}`,
  );
  assert.ok(row(4).every((v) => v < -0.5) && row(20).every((v) => v < -0.5));
  // Without the angle the same crop shows the tilted line crossing rows.
  const upright = preprocessFace(img, { inputSize: 24, box });
  assert.ok(Array.from(upright.subarray(12 * 24 + 2, 12 * 24 + 22)).some((v) => v < -0.5));
  assert.deepEqual(preprocessFace(img, { inputSize: 24, box, angle: 0 }), upright);
  // Flip mirrors the turned crop too.
  const flipped = preprocessFace(img, { inputSize: 24, box, angle, flip: true });
  for (let y = 0; y < 24; y++) for (let x = 0; x < 24; x++) assert.ok(Math.abs(flipped[y * 24 + x] - out[y * 24 + 23 - x]) < 1e-6);
});

test('faceCrop: the square box grown by the margin, the eye-line angle when aligning and the eyes are known', () => {
  const det = {
    box: [10, 20, 80, 100] as [number, number, number, number],
    keypoints: { rightEye: [30, 60] as [number, number], leftEye: [70, 80] as [number, number] },
  };
  assert.deepEqual(faceCrop(det, 0.1, false), { box: squareBox(det.box, 0.1) });
  const c = faceCrop(det, 0.1, true);
  assert.deepEqual(c.box, squareBox(det.box, 0.1));
  assert.ok(Math.abs(c.angle! - Math.atan2(20, 40)) < 1e-12);
  assert.equal(eyeLineAngle([0, 0], [10, 0]), 0);
  // Tiny tilts and implausible ones (keypoint errors) are not corrected; no keypoints, no angle.
  assert.equal(faceCrop({ box: det.box, keypoints: { rightEye: [0, 0], leftEye: [100, MIN_ALIGN_ANGLE * 50] } }, 0, true).angle, undefined);
  assert.equal(faceCrop({ box: det.box, keypoints: { rightEye: [0, 0], leftEye: [10, 30] } }, 0, true).angle, undefined);
  assert.equal(faceCrop({ box: det.box }, 0, true).angle, undefined);
  // preprocessBatch takes boxes and crops alike.
  const img = bar(0.3);
  const both = preprocessBatch(img, [[40, 40, 120, 120], { box: [40, 40, 120, 120], angle: 0.3 }], { inputSize: 16 });
  assert.deepEqual(both.subarray(0, 256), preprocessFace(img, { inputSize: 16, box: [40, 40, 120, 120] }));
  assert.deepEqual(both.subarray(256), preprocessFace(img, { inputSize: 16, box: [40, 40, 120, 120], angle: 0.3 }));
});
