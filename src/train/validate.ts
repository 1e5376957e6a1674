/**
 * The model on the validation split: decoded, prepared (preprocessFace, no augmentation) chunks of a
 * sample store, mean cross-entropy and accuracy, and precise batch norm before validating.
 */
import * as tf from '@tensorflow/tfjs';
import { ageTarget, expectedAge, sampleAge, type AgeCodec } from '../data/age.js';
import { preprocessFace } from '../data/preprocess.js';
import { Rng } from '../data/rng.js';
import type { SampleStore } from '../data/store.js';
import { epochOrder } from './batches.js';

/** Set `model`'s weights from plain arrays (in model.weights order), e.g. the trainer's. */
export function setModelWeights(model: tf.LayersModel, weights: Float32Array[]): void {
  if (weights.length !== model.weights.length) throw new Error(`expected ${model.weights.length} weight arrays, got ${weights.length}`);
  tf.tidy(() => model.setWeights(model.weights.map((w, i) => tf.tensor(weights[i], w.shape as number[]))));
}

/**
 * The store's samples in order, `size` at a time, decoded and prepared by preprocessFace at the store's
 * input: `x` packs the readable ones, `rows` are their store indices, `end` the index after the chunk.
 * Chunks with no readable sample are skipped.
 */
export async function* preparedChunks(store: SampleStore, size: number): AsyncGenerator<{ x: Float32Array; rows: number[]; end: number }> {
  const { inputSize, channels } = store.opts;
  const per = inputSize * inputSize * channels;
  for (let start = 0; start < store.length; start += size) {
    const idx = Array.from({ length: Math.min(size, store.length - start) }, (_, j) => start + j);
    const imgs = await store.getMany(idx);
    const x = new Float32Array(idx.length * per);
    const rows: number[] = [];
    imgs.forEach((img, j) => {
      if (!img) return;
      preprocessFace(img, { inputSize, channels }, x, rows.length * per);
      rows.push(idx[j]);
    });
    if (rows.length) yield { x: x.subarray(0, rows.length * per), rows, end: start + idx.length };
  }
}

/**
 * Mean cross-entropy and accuracy of `model` over the store (no augmentation). With `age` (an age
 * model's codec) the cross-entropy is against each sample's age target and `mae` is the mean absolute
 * error in years of the expected age.
 */
export async function validate(
  model: tf.LayersModel,
  store: SampleStore,
  batchSize = 64,
  age?: AgeCodec,
): Promise<{ loss: number; acc: number; n: number; mae?: number }> {
  const { inputSize, channels } = store.opts;
  const k = Number(model.outputs[0].shape[model.outputs[0].shape.length - 1]);
  const target = new Float32Array(k);
  let [lossSum, correct, absSum, n] = [0, 0, 0, 0];
  for await (const { x, rows } of preparedChunks(store, batchSize)) {
    const m = rows.length;
    const probsT = tf.tidy(() => model.predict(tf.tensor4d(x, [m, inputSize, inputSize, channels])) as tf.Tensor);
    const probs = (await probsT.data()) as Float32Array;
    probsT.dispose();
    for (let r = 0; r < m; r++) {
      const sample = store.samples[rows[r]];
      const row = probs.subarray(r * k, (r + 1) * k);
      if (age) {
        ageTarget(sampleAge(sample), age, target);
        for (let j = 0; j < k; j++) if (target[j] > 0) lossSum -= target[j] * Math.log(Math.min(1, Math.max(1e-7, row[j])));
        absSum += Math.abs(expectedAge(row, age.centres) - sampleAge(sample));
      } else {
        lossSum -= Math.log(Math.min(1, Math.max(1e-7, row[sample.label])));
      }
      let best = 0;
      for (let j = 1; j < k; j++) if (row[j] > row[best]) best = j;
      if (best === sample.label) correct++;
    }
    n += m;
  }
  return { loss: n ? lossSum / n : NaN, acc: n ? correct / n : NaN, n, ...(age ? { mae: n ? absSum / n : NaN } : {}) };
}

/**
 * Re-estimate every BatchNormalization layer's moving mean/variance as the average over `batches`
 * training-mode forward passes (momentum set to 1 - 1/k on pass k, so the moving value is the
 * running mean of the batch statistics).
 */
export async function preciseBatchNorm(model: tf.LayersModel, store: SampleStore, batches: number, batchSize: number, seed: number): Promise<void> {
  const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization') as unknown as Array<{ momentum: number }>;
  if (!bns.length || batches <= 0 || store.length === 0) return;
  const saved = bns.map((l) => l.momentum);
  const { inputSize, channels } = store.opts;
  const per = inputSize * inputSize * channels;
  const order = epochOrder(store.length, new Rng(seed));
  try {
    let k = 0;
    for (let start = 0; start < order.length && k < batches; start += batchSize) {
      const idx = order.slice(start, start + batchSize);
      const imgs = (await store.getMany(idx)).filter((i) => i !== undefined);
      if (imgs.length < 2) continue;
      const x = new Float32Array(imgs.length * per);
      imgs.forEach((img, j) => preprocessFace(img!, { inputSize, channels }, x, j * per));
      k++;
      for (const l of bns) l.momentum = 1 - 1 / k;
      tf.tidy(() => {
        model.apply(tf.tensor4d(x, [imgs.length, inputSize, inputSize, channels]), { training: true });
      });
    }
  } finally {
    bns.forEach((l, i) => (l.momentum = saved[i]));
  }
}
