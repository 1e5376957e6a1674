import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { colorOf, colormapLut } from '../../src/viz/colormap.js';
import { displayCrop, escapeXml, renderSaliencyPanel, resizeMap } from '../../src/viz/render.js';

test('colour maps: 256 entries, turbo dark -> blue -> ... -> red, clamped inputs', () => {
  assert.equal(colormapLut('turbo').length, 768);
  const lo = colorOf(0);
  const blue = colorOf(0.15);
  const hi = colorOf(1);
  assert.ok(lo[0] + lo[1] + lo[2] < 150, 'turbo starts dark');
  assert.ok(blue[2] > 200 && blue[2] > blue[0], 'then blue');
  assert.ok(hi[0] > 100 && hi[0] > 4 * hi[2], 'turbo ends red');
  assert.deepEqual(colorOf(-3), lo);
  assert.deepEqual(colorOf(Number.NaN), lo);
  assert.deepEqual(colorOf(7, 'heat'), [255, 255, 255]);
});

test('resizeMap keeps constants and the location of a peak', () => {
  const flat = resizeMap(new Float32Array(9).fill(0.5), 3, 3, 12, 12);
  assert.ok(flat.every((v) => Math.abs(v - 0.5) < 1e-6));
  const peak = new Float32Array(16);
  peak[1 * 4 + 2] = 1;
  const big = resizeMap(peak, 4, 4, 40, 40);
  const i = big.indexOf(Math.max(...big));
  assert.equal(Math.floor(Math.floor(i / 40) / 10), 1);
  assert.equal(Math.floor((i % 40) / 10), 2);
});

test('panel: one row of three cells per face, captions escaped', async () => {
  const img = { data: new Uint8Array(30 * 20 * 3).fill(128), width: 30, height: 20, channels: 3 as const };
  const crop = displayCrop(img, [0, 0, 20, 20], 64, true);
  assert.equal(crop.length, 64 * 64 * 3);
  assert.ok(crop.every((v) => Math.abs(v - 128) <= 1));
  const map = new Float32Array(48 * 48).map((_, i) => (i % 48) / 47);
  const png = await renderSaliencyPanel(
    [
      { crop, map, mapWidth: 48, mapHeight: 48, caption: 'face 1: <happy> & "sad"' },
      { crop, map, mapWidth: 48, mapHeight: 48, caption: 'face 2' },
    ],
    { cell: 64 },
  );
  const meta = await sharp(png).metadata();
  assert.equal(meta.width, 3 * 64 + 4 * 6);
  assert.equal(meta.height, 22 + 2 * (26 + 64 + 6));
  assert.equal(escapeXml('<a&"b">'), '&lt;a&amp;&quot;b&quot;&gt;');
  const empty = await sharp(await renderSaliencyPanel([], { cell: 64 })).metadata();
  assert.equal(empty.height, 22 + 26 + 64 + 6);
});

test('blendSaliency tints only the box, proportionally to the map', async () => {
  const { blendSaliency } = await import('../../src/viz/overlay.js');
  const frame = { data: new Uint8Array(20 * 10 * 4).fill(100), width: 20, height: 10, channels: 4 as const };
  const map = new Float32Array(4 * 4).fill(0);
  map[0] = 1; // top-left cell of the map
  blendSaliency(frame, [{ box: [10, 0, 8, 8], map, size: 4 }]);
  const px = (x: number, y: number) => Array.from(frame.data.slice((y * 20 + x) * 4, (y * 20 + x) * 4 + 4));
  assert.notDeepEqual(px(10, 0), [100, 100, 100, 100], 'the hot corner is tinted');
  assert.deepEqual(px(17, 7), [100, 100, 100, 100], 'cold parts of the box are untouched');
  assert.deepEqual(px(2, 2), [100, 100, 100, 100], 'outside the box untouched');
  assert.equal(px(10, 0)[3], 100, 'alpha untouched');
});
