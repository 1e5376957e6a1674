import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recutCrop } from '../../src/eval/recut.js';
import type { RawImage } from '../../src/data/preprocess.js';

test('recut: seeded per sample, sizes within the range, pixels from the source with edges replicated', () => {
  const img: RawImage = { data: new Uint8Array(40 * 40).map((_, i) => i % 40), width: 40, height: 40, channels: 1 };
  const a = recutCrop(img, 7, 3);
  assert.deepEqual(recutCrop(img, 7, 3), a);
  assert.notDeepEqual(recutCrop(img, 7, 4).data, a.data);
  for (let i = 0; i < 50; i++) {
    const r = recutCrop(img, 1, i);
    const side = Math.sqrt(r.width * r.height);
    assert.ok(side >= 40 * 0.75 - 1 && side <= 40 * 1.45 + 1, `side ${side}`);
    assert.ok(r.width / r.height <= 1.3 + 0.05 && r.height / r.width <= 1.3 + 0.05);
    // Every row is a (clamped) run of the source's x coordinate: values 0..39, non-decreasing.
    for (let x = 1; x < r.width; x++) assert.ok(r.data[x] >= r.data[x - 1] && r.data[x] <= 39);
  }
});
