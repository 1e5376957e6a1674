/**
 * Turning a SampleStore into training batches: seeded order, augmentation, scaling through
 * preprocessFace, targets with label smoothing, class weights and optional mixup.
 */
import type { Sample } from '../data/dataset.js';
import type { SampleStore } from '../data/store.js';
import { preprocessFace } from '../data/preprocess.js';
import { Rng } from '../data/rng.js';
import { augmentImage, isIdentity, NO_AUGMENT, type AugmentOptions } from './augment.js';

export interface TargetOptions {
  numClasses: number;
  /** Label smoothing epsilon: targets (1 - e) * onehot + e / K. */
  labelSmoothing?: number;
  /** Per-class weight multiplying each target row (weighted cross-entropy). */
  classWeights?: number[];
  /**
   * A sample's own target row (e.g. an age's distribution over anchors, src/data/age.ts), written at
   * y[offset..offset + numClasses); replaces the one-hot of its label (no smoothing or class weights).
   */
  sampleTarget?: (s: Sample, y: Float32Array, offset: number) => void;
}

export interface BatchOptions extends TargetOptions {
  batchSize: number;
  augment?: AugmentOptions;
  /** Mixup alpha (Beta(alpha, alpha) mixing of pairs in the batch); 0 = off. */
  mixup?: number;
}

export interface Batch {
  x: Float32Array;
  y: Float32Array;
  n: number;
  /** Sample indices (into the store) in the batch. */
  indices: number[];
}

/** Write the target row for `label` into y at row r (scaled by `scale`, added to what is there if `add`). */
export function writeTarget(y: Float32Array, r: number, label: number, o: TargetOptions, scale = 1, add = false): void {
  const k = o.numClasses;
  const e = o.labelSmoothing ?? 0;
  const w = (o.classWeights?.[label] ?? 1) * scale;
  for (let j = 0; j < k; j++) {
    const t = ((j === label ? 1 - e : 0) + e / k) * w;
    y[r * k + j] = add ? y[r * k + j] + t : t;
  }
}

/** Balanced class weights: n / (K * count_k), as scikit-learn's "balanced". */
export function balancedClassWeights(counts: number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (c > 0 ? n / (counts.length * c) : 0));
}

/** A seeded permutation of 0..n-1. */
export function epochOrder(n: number, rng: Rng): number[] {
  return rng.shuffle(Array.from({ length: n }, (_, i) => i)) as number[];
}

/**
 * Batches over `order`. Unreadable samples are dropped from their batch (the store records them).
 * Loading of batch b+1 overlaps with the consumer's work on batch b.
 */
export async function* makeBatches(store: SampleStore, order: number[], opts: BatchOptions, rng: Rng): AsyncGenerator<Batch> {
  const { inputSize, channels } = store.opts;
  const per = inputSize * inputSize * channels;
  const aug = opts.augment ?? NO_AUGMENT;
  const doAug = !isIdentity(aug);
  const tmp = new Uint8Array(per);
  const load = (start: number) => {
    const idx = order.slice(start, start + opts.batchSize);
    return store.getMany(idx).then((imgs) => ({ idx, imgs }));
  };
  let pending = order.length > 0 ? load(0) : undefined;
  for (let start = 0; start < order.length; start += opts.batchSize) {
    const { idx, imgs } = await pending!;
    // Cached samples are views into the cache; streamed ones are fresh arrays, safe to hold.
    pending = start + opts.batchSize < order.length ? load(start + opts.batchSize) : undefined;
    const x = new Float32Array(idx.length * per);
    const y = new Float32Array(idx.length * opts.numClasses);
    const kept: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < idx.length; k++) {
      const img = imgs[k];
      if (!img) continue;
      const r = kept.length;
      let flip = false;
      let src = img;
      if (doAug) {
        flip = augmentImage(img, tmp, rng, aug).flip;
        src = { data: tmp, width: inputSize, height: inputSize, channels: img.channels };
      }
      preprocessFace(src, { inputSize, channels, flip }, x, r * per);
      const sample = store.samples[idx[k]];
      const label = sample.label;
      if (opts.sampleTarget) opts.sampleTarget(sample, y, r * opts.numClasses);
      else writeTarget(y, r, label, opts);
      kept.push(idx[k]);
      labels.push(label);
    }
    const n = kept.length;
    if (n === 0) continue;
    if (opts.mixup && opts.mixup > 0 && n > 1 && !opts.sampleTarget) mixBatch(x, y, n, per, opts, labels, rng);
    yield { x: n === idx.length ? x : x.slice(0, n * per), y: n === idx.length ? y : y.slice(0, n * opts.numClasses), n, indices: kept };
  }
}

/** Mixup (Zhang et al. 2018): each sample mixed with a shuffled partner, one lambda per batch. */
function mixBatch(x: Float32Array, y: Float32Array, n: number, per: number, o: BatchOptions, labels: number[], rng: Rng): void {
  const lam = rng.beta(o.mixup!);
  const perm = epochOrder(n, rng);
  const x0 = x.slice(0, n * per);
  for (let r = 0; r < n; r++) {
    const p = perm[r];
    for (let i = 0; i < per; i++) x[r * per + i] = lam * x0[r * per + i] + (1 - lam) * x0[p * per + i];
    writeTarget(y, r, labels[r], o, lam);
    writeTarget(y, r, labels[p], o, 1 - lam, true);
  }
}
