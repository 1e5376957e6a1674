import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage } from '../../src/data/decode.js';
import { datasetsDir } from '../../src/data/paths.js';
import { setupBackend } from '../../src/engine/backend.js';
import { createDetector } from '../../src/detect/index.js';
import { locateFaceInCrop, padEdges } from '../../src/pipeline/crop-framing.js';
import type { RawImage } from '../../src/data/preprocess.js';

test('padEdges replicates the border and keeps the image in the middle', () => {
  const img: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
  const { img: p, pad } = padEdges(img, 0.34);
  assert.equal(pad, 1);
  assert.deepEqual([p.width, p.height], [5, 4]);
  assert.deepEqual(Array.from(p.data), [1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 4, 4, 5, 6, 6]);
});

const utk = path.join(datasetsDir(), 'utkface');
test(
  'locateFaceInCrop finds the face of a tight chip and of the same chip inside a wider frame, in crop pixels',
  { skip: fs.existsSync(utk) ? false : `needs ${utk} (the shared datasets)` },
  async () => {
    await setupBackend();
    const det = await createDetector('blazeface');
    try {
      const file = fs.readdirSync(utk).filter((f) => f.startsWith('35_'))[0];
      const chip = await decodeImage(path.join(utk, file));
      const tight = await locateFaceInCrop(det, chip);
      assert.ok(tight, 'a face is found in a 200x200 chip');
      const [x, y, w, h] = tight.box;
      const cx = x + w / 2;
      const cy = y + h / 2;
      assert.ok(Math.abs(cx - 100) < 30 && Math.abs(cy - 100) < 30, `centred: ${tight.box.join(', ')}`);
      assert.ok(w > 100 && w < 260, `face side ${w}`);
      // The chip pasted at (150, 50) into a 500x300 grey frame: the same face, shifted.
      const frame = new Uint8Array(500 * 300 * 3).fill(90);
      for (let yy = 0; yy < 200; yy++)
        for (let xx = 0; xx < 200; xx++)
          for (let k = 0; k < 3; k++) frame[((yy + 50) * 500 + xx + 150) * 3 + k] = chip.data[(yy * 200 + xx) * chip.channels + (chip.channels === 3 ? k : 0)];
      const wide = await locateFaceInCrop(det, { data: frame, width: 500, height: 300, channels: 3 });
      assert.ok(wide, 'found in the wider frame');
      assert.ok(Math.abs(wide.box[0] - 150 - x) < 15 && Math.abs(wide.box[1] - 50 - y) < 15, `${wide.box.join(', ')} vs ${tight.box.join(', ')}`);
      // Keypoints come back in crop pixels too: the eyes lie inside the face box, the person's right eye on the image's left.
      const kp = tight.keypoints!;
      assert.ok(kp.rightEye[0] < kp.leftEye[0]);
      for (const p of [kp.rightEye, kp.leftEye]) assert.ok(p[0] > x && p[0] < x + w && p[1] > y && p[1] < y + h, `${p} in ${tight.box}`);
      assert.ok(Math.abs(wide.keypoints!.rightEye[0] - 150 - kp.rightEye[0]) < 10);
      // A flat image holds no face.
      assert.equal(await locateFaceInCrop(det, { data: new Uint8Array(64 * 64).fill(128), width: 64, height: 64, channels: 1 }), undefined);
    } finally {
      det.dispose();
    }
  },
);
