import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { jpegRecompress, quantTable } from '../../src/train/jpeg-artifacts.js';
import { augmentImage, NO_AUGMENT } from '../../src/train/augment.js';
import { Rng } from '../../src/data/rng.js';

/** A face-sized test card: smooth gradient, a sharp-edged disc and a fine texture (what JPEG smears). */
function card(w: number, h: number, c: number): Uint8Array {
  const img = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const disc = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (w / 4) ** 2 ? 70 : 0;
      const texture = (x + y) % 3 === 0 ? 25 : 0;
      for (let k = 0; k < c; k++) img[(y * w + x) * c + k] = 40 + ((x * 3 + y * 2 + k * 40) % 120) + disc + texture - (k === 1 ? 20 : 0);
    }
  }
  return img;
}

const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

/** The same image through libjpeg (via sharp): baseline, standard tables, no chroma subsampling. */
async function libjpeg(img: Uint8Array, w: number, h: number, c: 1 | 3, quality: number): Promise<Uint8Array> {
  let s = sharp(img, { raw: { width: w, height: h, channels: c } });
  if (c === 1) s = s.grayscale();
  const jpg = await s
    .jpeg({
      quality,
      chromaSubsampling: '4:4:4',
      mozjpeg: false,
      trellisQuantisation: false,
      overshootDeringing: false,
      optimiseScans: false,
      quantisationTable: 0,
    })
    .toBuffer();
  let d = sharp(jpg);
  if (c === 1) d = d.grayscale();
  return new Uint8Array(await d.raw().toBuffer());
}

test('quantTable follows libjpeg quality scaling: 50 is the printed table, 100 all ones, low qualities coarser', () => {
  const base = [16, 11, 10, 255];
  assert.deepEqual(Array.from(quantTable(base, 50)), [16, 11, 10, 255]);
  assert.deepEqual(Array.from(quantTable(base, 100)), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(quantTable(base, 25)), [32, 22, 20, 255]);
  assert.deepEqual(Array.from(quantTable(base, 90)), [3, 2, 2, 51]);
});

for (const c of [1, 3] as const) {
  test(`jpegRecompress (${c === 1 ? 'grey' : 'RGB'}) matches libjpeg's decoded samples and degrades with lower quality`, async () => {
    const [w, h] = [48, 40]; // 40 rows: the last block row is padded
    const src = card(w, h, c);
    const errors: number[] = [];
    for (const q of [90, 50, 20]) {
      const ours = src.slice();
      jpegRecompress(ours, w, h, c, q);
      const ref = await libjpeg(src, w, h, c, q);
      const gap = meanAbsDiff(ours, ref);
      assert.ok(gap < 1.5, `quality ${q}: ours vs libjpeg mean |diff| ${gap.toFixed(2)}`);
      errors.push(meanAbsDiff(ours, src));
    }
    assert.ok(errors[0] < errors[1] && errors[1] < errors[2], `error grows as quality falls: ${errors.map((e) => e.toFixed(2)).join(', ')}`);
    assert.ok(errors[2] > 3, `quality 20 visibly changes the card (${errors[2].toFixed(2)})`);
  });
}

test('jpegRecompress keeps a flat image flat', () => {
  const img = new Uint8Array(64 * 64).fill(100);
  jpegRecompress(img, 64, 64, 1, 50);
  assert.ok(img.every((v) => v === 100));
});

test('augmentImage --jpeg: seeded, applied to about the given share of images, nothing drawn when off', () => {
  const src = { data: card(48, 48, 1), width: 48, height: 48, channels: 1 as const };
  const [a, b] = [new Uint8Array(48 * 48), new Uint8Array(48 * 48)];
  let changed = 0;
  for (let seed = 0; seed < 20; seed++) {
    augmentImage(src, a, new Rng(seed), { ...NO_AUGMENT, jpeg: 0.5 });
    augmentImage(src, b, new Rng(seed), { ...NO_AUGMENT, jpeg: 0.5 });
    assert.deepEqual(a, b);
    if (meanAbsDiff(a, src.data) > 0) changed++;
  }
  assert.ok(changed >= 4 && changed <= 16, `about half re-compressed: ${changed} of 20`);
  augmentImage(src, a, new Rng(3), { ...NO_AUGMENT, jpeg: 0 });
  assert.deepEqual(a, src.data);
});
