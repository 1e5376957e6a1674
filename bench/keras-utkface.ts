/**
 * Accuracy of an imported gender model (e.g. the paper's gender_mini_XCEPTION) on UTKFace adults
 * (age >= 18), grey 64x64 in [-1, 1] via preprocessFace, on the tight aligned crop and with a
 * replicated border (squareBox margin). Labels from the file names (gender 0 = male, 1 = female).
 *
 *   node dist/bench/keras-utkface.js <model dir> [--limit N] [--margins 0,0.3]
 *
 * Figures are printed; nothing is asserted here. This loop is independent of src/eval (its own file-name
 * parsing, decode, preprocess and argmax), so it cross-checks `facecls eval gender --adults`, which
 * test/io/keras/utkface-accuracy.test.ts runs on the test split.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { decodeImage } from '../src/data/decode.js';
import { datasetPath } from '../src/data/paths.js';
import { preprocessFace, squareBox, type Box, type RawImage } from '../src/data/preprocess.js';
import { setupBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/io/model-store.js';

export interface UtkFace {
  file: string;
  age: number;
  /** Index in the model's [woman, man] outputs. */
  label: 0 | 1;
}

/** UTKFace adults (age >= 18), sorted by file name; files whose name does not parse are skipped. */
export function utkfaceAdults(dir = datasetPath('utkface')): UtkFace[] {
  const out: UtkFace[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const m = /^(\d+)_([01])_/.exec(name);
    if (!m || !/\.jpe?g/i.test(name)) continue;
    const age = Number(m[1]);
    if (age < 18) continue;
    out.push({ file: path.join(dir, name), age, label: m[2] === '1' ? 0 : 1 });
  }
  return out;
}

/** Every k-th item so that about `n` remain: a deterministic subset spread over the whole list. */
export function evenSubset<T>(items: T[], n: number): T[] {
  if (n >= items.length) return items;
  const step = items.length / n;
  return Array.from({ length: n }, (_, i) => items[Math.floor(i * step)]);
}

export interface MarginResult {
  margin: number;
  n: number;
  correct: number;
  accuracy: number;
  /** Accuracy on women and on men separately. */
  perClass: [number, number];
}

/** Accuracy of a loaded [woman, man] model on the given faces, for each crop margin. */
export async function genderAccuracy(
  model: tf.LayersModel,
  faces: UtkFace[],
  opts: { inputSize: number; channels?: 1 | 3; margins: number[]; batch?: number },
): Promise<MarginResult[]> {
  const size = opts.inputSize;
  const batch = opts.batch ?? 64;
  const channels = opts.channels ?? 1;
  const per = size * size * channels;
  const stats = opts.margins.map((margin) => ({ margin, correct: 0, hit: [0, 0], count: [0, 0] }));
  for (let start = 0; start < faces.length; start += batch) {
    const chunk = faces.slice(start, start + batch);
    const images: RawImage[] = await Promise.all(chunk.map((f) => decodeImage(f.file, { grey: channels === 1 })));
    for (const s of stats) {
      const buf = new Float32Array(chunk.length * per);
      images.forEach((img, i) => {
        const box: Box = squareBox([0, 0, img.width, img.height], s.margin);
        preprocessFace(img, { inputSize: size, channels, box }, buf, i * per);
      });
      const probs = tf.tidy(() => (model.predict(tf.tensor4d(buf, [chunk.length, size, size, channels])) as tf.Tensor).argMax(-1));
      const pred = (await probs.data()) as Int32Array;
      probs.dispose();
      chunk.forEach((f, i) => {
        s.count[f.label]++;
        if (pred[i] === f.label) {
          s.correct++;
          s.hit[f.label]++;
        }
      });
    }
  }
  return stats.map((s) => ({
    margin: s.margin,
    n: faces.length,
    correct: s.correct,
    accuracy: s.correct / faces.length,
    perClass: [s.hit[0] / Math.max(1, s.count[0]), s.hit[1] / Math.max(1, s.count[1])],
  }));
}

async function main(argv: string[]): Promise<void> {
  const dir = argv[0];
  if (!dir) throw new Error('usage: node dist/bench/keras-utkface.js <model dir> [--limit N] [--margins 0,0.3]');
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const limit = opt('--limit') ? Number(opt('--limit')) : Infinity;
  const margins = (opt('--margins') ?? '0,0.3').split(',').map(Number);
  const backend = await setupBackend();
  const { model, meta } = await loadModel(dir);
  const all = utkfaceAdults();
  const faces = Number.isFinite(limit) ? evenSubset(all, limit) : all;
  const t0 = performance.now();
  const results = await genderAccuracy(model, faces, { inputSize: meta.inputSize, channels: meta.channels === 3 ? 3 : 1, margins });
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `UTKFace adults (age >= 18): ${faces.length} of ${all.length} images; model ${dir} (${meta.arch ?? 'custom'}); backend ${backend}; ${secs.toFixed(1)} s`,
  );
  for (const r of results) {
    console.log(
      `  margin ${r.margin.toFixed(2)}: accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.correct}/${r.n}); women ${(100 * r.perClass[0]).toFixed(1)}%, men ${(100 * r.perClass[1]).toFixed(1)}%`,
    );
  }
  model.dispose();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
