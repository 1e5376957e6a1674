import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/data/rng.js';
import { augmentFrom, augmentImage, NO_AUGMENT, PAPER_AUGMENT, ROBUST_AUGMENT } from '../../src/train/augment.js';
import { balancedClassWeights, writeTarget } from '../../src/train/batches.js';
import { initialMonitor, lrForEpoch, observe, scheduledLr, type ScheduleConfig } from '../../src/train/schedule.js';
import type { RawImage } from '../../src/data/preprocess.js';

function ramp(size: number): RawImage {
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data[y * size + x] = (x * 255) / (size - 1);
  return { data, width: size, height: size, channels: 1 };
}

test('augmentation is seeded and reproducible; identity options copy the image', () => {
  const img = ramp(24);
  const a = new Uint8Array(576);
  const b = new Uint8Array(576);
  const c = new Uint8Array(576);
  const fa = augmentImage(img, a, new Rng(5), PAPER_AUGMENT);
  const fb = augmentImage(img, b, new Rng(5), PAPER_AUGMENT);
  augmentImage(img, c, new Rng(6), PAPER_AUGMENT);
  assert.deepEqual(a, b);
  assert.equal(fa.flip, fb.flip);
  assert.notDeepEqual(a, c);
  const same = new Uint8Array(576);
  assert.equal(augmentImage(img, same, new Rng(1), NO_AUGMENT).flip, false);
  assert.deepEqual(same, img.data);
});

test('augmentation: geometry keeps a constant image constant; brightness shifts; cutout greys a square', () => {
  const flat: RawImage = { data: new Uint8Array(256).fill(100), width: 16, height: 16, channels: 1 };
  const out = new Uint8Array(256);
  augmentImage(flat, out, new Rng(2), { ...NO_AUGMENT, rotation: 30, shift: 0.2, zoom: 0.2 });
  assert.ok(out.every((v) => v === 100));
  augmentImage(flat, out, new Rng(2), { ...NO_AUGMENT, brightness: 0.2 });
  assert.ok(out.every((v) => v === out[0]) && out[0] !== 100 && Math.abs(out[0] - 100) <= 51);
  augmentImage(flat, out, new Rng(3), { ...NO_AUGMENT, cutout: 0.25 });
  const cut = out.filter((v) => v === 128).length;
  assert.ok(cut > 0 && cut <= 16, `cutout covered ${cut} pixels`);
  // Flip frequency is about one half.
  const rng = new Rng(9);
  let flips = 0;
  for (let i = 0; i < 400; i++) if (augmentImage(flat, out, rng, { ...NO_AUGMENT, flip: true }).flip) flips++;
  assert.ok(flips > 150 && flips < 250, `${flips} flips of 400`);
});

test('targets: label smoothing, class weights, balanced weights', () => {
  const y = new Float32Array(6);
  writeTarget(y, 0, 1, { numClasses: 3, labelSmoothing: 0.3 });
  assert.deepEqual(
    Array.from(y.subarray(0, 3)).map((v) => +v.toFixed(5)),
    [0.1, 0.8, 0.1],
  );
  writeTarget(y, 1, 2, { numClasses: 3, classWeights: [1, 1, 2.5] });
  assert.deepEqual(Array.from(y.subarray(3, 6)), [0, 0, 2.5]);
  assert.deepEqual(balancedClassWeights([10, 30, 60]), [100 / 30, 100 / 90, 100 / 180]);
});

test('schedules: cosine, step, warm-up, plateau reduction and early-stopping bookkeeping', () => {
  const base: ScheduleConfig = { name: 'cosine', lr: 0.1, minLr: 0.001, warmupEpochs: 0, factor: 0.1, patience: 2, stepEpochs: 3, epochs: 11 };
  assert.equal(scheduledLr(base, 1), 0.1);
  assert.ok(Math.abs(scheduledLr(base, 11) - 0.001) < 1e-12);
  assert.ok(Math.abs(scheduledLr(base, 6) - (0.001 + 0.5 * 0.099)) < 1e-12);
  const step = { ...base, name: 'step' as const };
  assert.deepEqual(
    [1, 3, 4, 7].map((e) => +scheduledLr(step, e).toPrecision(6)),
    [0.1, 0.1, 0.01, 0.001],
  );
  const warm = { ...base, warmupEpochs: 2 };
  assert.ok(Math.abs(scheduledLr(warm, 1) - 0.01) < 1e-12);
  const plateau = { ...base, name: 'plateau' as const };
  const m = initialMonitor(0.1);
  assert.equal(observe(m, 1, 1.0, plateau).improved, true);
  assert.equal(observe(m, 2, 1.0, plateau).improved, false);
  const r = observe(m, 3, 1.2, plateau);
  assert.equal(r.reducedLr, true);
  assert.ok(Math.abs(lrForEpoch(plateau, m, 4) - 0.01) < 1e-12);
  assert.equal(m.sinceBest, 2);
  assert.equal(m.bestEpoch, 1);
});

test('batches: seeded, scaled to [-1, 1] by preprocessFace, mixup targets are convex, bad samples dropped', async () => {
  const { SampleStore } = await import('../../src/data/store.js');
  const { makeBatches } = await import('../../src/train/batches.js');
  const samples = Array.from({ length: 10 }, (_, i) => ({
    id: `s${i}`,
    label: i % 2,
    pixels: { data: new Uint8Array(16).fill(i * 20), width: 4, height: 4, channels: 1 as const },
  }));
  samples.push({ id: 'broken', label: 0, file: '/nonexistent/broken.png' } as never);
  const store = new SampleStore(samples, { inputSize: 4, channels: 1 });
  const order = Array.from({ length: 11 }, (_, i) => i);
  const collect = async (seed: number, mixup: number) => {
    const out = [];
    for await (const b of makeBatches(store, order, { batchSize: 4, numClasses: 2, mixup, labelSmoothing: 0.1 }, new Rng(seed))) out.push(b);
    return out;
  };
  const plain = await collect(1, 0);
  assert.deepEqual(
    plain.map((b) => b.n),
    [4, 4, 2],
  );
  assert.equal(store.bad.size, 1);
  assert.ok(Math.abs(plain[0].x[16] - (20 / 127.5 - 1)) < 1e-6);
  assert.deepEqual(
    Array.from(plain[0].y.subarray(0, 4)).map((v) => +v.toFixed(4)),
    [0.95, 0.05, 0.05, 0.95],
  );
  const a = await collect(7, 0.4);
  const b = await collect(7, 0.4);
  assert.deepEqual(
    a.map((x) => Array.from(x.x)),
    b.map((x) => Array.from(x.x)),
  );
  for (const batch of a) {
    for (let r = 0; r < batch.n; r++) {
      const s = batch.y[r * 2] + batch.y[r * 2 + 1];
      assert.ok(Math.abs(s - 1) < 1e-6, `target row sums to ${s}`);
      const v = batch.x[r * 16];
      assert.ok(v >= -1 - 1e-6 && v <= 1 + 1e-6);
    }
  }
});

test('robust augmentation: aspect stretches one axis, gamma keeps 0 and 255, blur smooths, noise is seeded, grey equalises channels', () => {
  const img = ramp(24);
  const out = new Uint8Array(576);
  // A vertical edge pattern (ramp in x) keeps its rows identical under a pure aspect change (no rotation).
  augmentImage(img, out, new Rng(4), { ...NO_AUGMENT, aspect: 0.5 });
  for (let y = 1; y < 24; y++) assert.deepEqual(out.subarray(y * 24, y * 24 + 24), out.subarray(0, 24));
  assert.notDeepEqual(out, img.data, 'an aspect change moves the ramp');
  // Gamma is monotone and keeps the extremes.
  const ext: RawImage = { data: Uint8Array.from([0, 64, 128, 255]), width: 2, height: 2, channels: 1 };
  const g = new Uint8Array(4);
  augmentImage(ext, g, new Rng(11), { ...NO_AUGMENT, gamma: 0.5 });
  assert.equal(g[0], 0);
  assert.equal(g[3], 255);
  assert.ok(g[1] < g[2]);
  // Blur lowers the variance of a checkerboard; noise runs change a flat image the same way for the same seed.
  const check: RawImage = { data: new Uint8Array(256).map((_, i) => (((i % 16) + Math.floor(i / 16)) % 2 ? 200 : 50)), width: 16, height: 16, channels: 1 };
  const variance = (a: ArrayLike<number>) => {
    const v = Array.from(a);
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    return v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length;
  };
  const blurred = new Uint8Array(256);
  let smoothed = 0;
  for (let seed = 0; seed < 8; seed++) {
    augmentImage(check, blurred, new Rng(seed), { ...NO_AUGMENT, blur: 2 });
    if (variance(blurred) < variance(check.data) * 0.5) smoothed++;
  }
  assert.ok(smoothed >= 2 && smoothed <= 7, `about half the images are blurred: ${smoothed} of 8`);
  const flat: RawImage = { data: new Uint8Array(256).fill(100), width: 16, height: 16, channels: 1 };
  const n1 = new Uint8Array(256);
  const n2 = new Uint8Array(256);
  let noisy = 0;
  for (let seed = 0; seed < 8; seed++) {
    augmentImage(flat, n1, new Rng(seed), { ...NO_AUGMENT, noise: 0.1 });
    augmentImage(flat, n2, new Rng(seed), { ...NO_AUGMENT, noise: 0.1 });
    assert.deepEqual(n1, n2);
    if (n1.some((v) => v !== 100)) noisy++;
  }
  assert.ok(noisy >= 2 && noisy <= 7, `about half the images get noise: ${noisy} of 8`);
  const rgb: RawImage = { data: new Uint8Array(48).map((_, i) => (i % 3) * 100), width: 4, height: 4, channels: 3 };
  const grey = new Uint8Array(48);
  augmentImage(rgb, grey, new Rng(1), { ...NO_AUGMENT, grey: 1 });
  for (let i = 0; i < 48; i += 3) assert.ok(grey[i] === grey[i + 1] && grey[i] === grey[i + 2] && grey[i] === Math.round(0.587 * 100 + 0.114 * 200));
  // The options added later draw nothing when off: the paper preset replays exactly with them at 0.
  const a = new Uint8Array(576);
  const b = new Uint8Array(576);
  augmentImage(img, a, new Rng(5), PAPER_AUGMENT);
  augmentImage(img, b, new Rng(5), { ...PAPER_AUGMENT, aspect: 0, gamma: 0, blur: 0, noise: 0, grey: 0 });
  assert.deepEqual(a, b);
});

test('augmentFrom: a preset with values overridden; the robustness options appear only when on', () => {
  assert.deepEqual(augmentFrom('paper'), PAPER_AUGMENT);
  assert.deepEqual(augmentFrom('none'), NO_AUGMENT);
  assert.deepEqual(augmentFrom('robust'), ROBUST_AUGMENT);
  assert.deepEqual(augmentFrom('none', { flip: true, rotation: 3, jpeg: 0.2 }), { ...NO_AUGMENT, flip: true, rotation: 3, jpeg: 0.2 });
  const r = augmentFrom('robust', { blur: 0, flip: false });
  assert.equal(r.flip, false);
  assert.ok(!('blur' in r), 'a robustness option turned off is left out, as in configs of runs without it');
  assert.deepEqual(Object.keys(augmentFrom('paper', { gamma: 0.1 })), ['rotation', 'shift', 'zoom', 'flip', 'brightness', 'contrast', 'cutout', 'gamma']);
});
