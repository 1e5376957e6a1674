/**
 * Post-training calibration of a two-class model's decision threshold, chosen on validation data:
 * a constant added to one class's logit (p'_c ∝ p_c e^offset_c, exact for every view before TTA
 * averaging), by one of two criteria (for gender the per-class recalls are the accuracy on women
 * and on men):
 * - accuracy: the highest balanced accuracy. Its optimum is often a plateau, so the recall gap it
 *   leaves is whatever the plateau's offset nearest 0 gives.
 * - parity: the smallest gap between the two recalls (equal error rates), which is what a fairness
 *   target such as "women within 2 points of men" states; ties by balanced accuracy.
 * The offset is folded into the bias of the convolution that produces the logits, so every runtime
 * (tfjs, ONNX, the browser) applies it with no extra step.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';

export interface SampleProbabilities {
  labels: number[];
  views: number;
  /** [sample][view][class] */
  values: Float32Array;
}

export type BalanceCriterion = 'accuracy' | 'parity';
export const BALANCE_CRITERIA: readonly BalanceCriterion[] = ['accuracy', 'parity'];

export const BALANCE_METHODS: Record<BalanceCriterion, string> = {
  accuracy: 'logit offset maximising balanced accuracy (per-class recalls brought together)',
  parity: 'logit offset minimising the gap between the two per-class recalls (ties: highest balanced accuracy)',
};

export interface BalanceResult {
  /** Offset added to each class's logit (class 0 stays 0). */
  offsets: number[];
  before: { accuracy: number; balancedAccuracy: number; recalls: number[] };
  after: { accuracy: number; balancedAccuracy: number; recalls: number[] };
}

function score(p: SampleProbabilities, k: number, delta: number): { accuracy: number; balancedAccuracy: number; recalls: number[] } {
  const n = p.labels.length;
  const hit = new Array<number>(k).fill(0);
  const count = new Array<number>(k).fill(0);
  const w = Math.exp(delta);
  for (let i = 0; i < n; i++) {
    // Average over views of the renormalised probabilities with class 1 scaled by e^delta.
    let p1 = 0;
    for (let v = 0; v < p.views; v++) {
      const o = (i * p.views + v) * k;
      const a = p.values[o];
      const b = p.values[o + 1] * w;
      p1 += b / (a + b) / p.views;
    }
    const pred = p1 > 0.5 ? 1 : 0;
    count[p.labels[i]]++;
    if (pred === p.labels[i]) hit[p.labels[i]]++;
  }
  const recalls = hit.map((h, c) => (count[c] ? h / count[c] : NaN));
  return { accuracy: hit.reduce((a, b) => a + b, 0) / n, balancedAccuracy: recalls.reduce((a, b) => a + b, 0) / k, recalls };
}

/**
 * Several models' probabilities on the same samples as one set whose views are every model's views
 * (model 0's views, then model 1's, ...): the ensemble averaging their probabilities after each folds
 * the same logit offset is scored exactly by balancedLogitOffset.
 */
export function interleaveViews(sets: SampleProbabilities[]): SampleProbabilities {
  if (sets.length === 1) return sets[0];
  const n = sets[0].labels.length;
  const k = sets[0].values.length / (n * sets[0].views);
  for (const s of sets)
    if (s.labels.length !== n || s.labels.some((l, i) => l !== sets[0].labels[i])) throw new Error('interleaveViews: the sets hold different samples');
  const views = sets.reduce((a, s) => a + s.views, 0);
  const values = new Float32Array(n * views * k);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const s of sets)
      for (let w = 0; w < s.views; w++, v++) values.set(s.values.subarray((i * s.views + w) * k, (i * s.views + w + 1) * k), (i * views + v) * k);
  }
  return { labels: sets[0].labels, views, values };
}

/**
 * The class-1 logit offset in [-3, 3] (steps of 0.01) that is best by `criterion`: the highest
 * balanced accuracy, or (parity) the smallest |recall 0 - recall 1| and then the highest balanced
 * accuracy. Remaining ties go to the offset closest to 0 (the model as trained).
 */
export function balancedLogitOffset(p: SampleProbabilities, k: number, criterion: BalanceCriterion = 'accuracy'): BalanceResult {
  if (k !== 2) throw new UserError(`balancing needs a two-class model, this one has ${k} classes`);
  if (p.labels.length === 0) throw new UserError('balancing needs validation samples');
  if (new Set(p.labels).size < 2) throw new UserError('balancing needs validation samples of both classes');
  // Scores compared as [primary, secondary], larger is better; 1e-12 absorbs float noise.
  const key = (s: ReturnType<typeof score>) =>
    criterion === 'parity' ? [-Math.abs(s.recalls[0] - s.recalls[1]), s.balancedAccuracy] : [s.balancedAccuracy, 0];
  const better = (a: number[], b: number[]) => {
    for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-12) return a[i] > b[i];
    return false;
  };
  const before = score(p, k, 0);
  let best = { delta: 0, s: before, key: key(before) };
  for (let i = -300; i <= 300; i++) {
    const delta = i / 100;
    const s = score(p, k, delta);
    const kk = key(s);
    if (better(kk, best.key) || (!better(best.key, kk) && Math.abs(delta) < Math.abs(best.delta))) best = { delta, s, key: kk };
  }
  return { offsets: [0, best.delta], before, after: best.s };
}

/**
 * Add `offsets` to the logits of a model whose output is softmax(pool(conv(...) + bias)) with a linear
 * pooling (global average pooling, flatten) between: the offsets go into that conv's bias.
 */
export function foldLogitOffsets(model: tf.LayersModel, offsets: number[]): void {
  let layer = model.outputs[0].sourceLayer as tf.layers.Layer;
  const path: string[] = [];
  for (;;) {
    path.push(layer.getClassName());
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    // Only the output softmax may sit above the logits; anything else non-linear changes their meaning.
    if (cls === 'Activation' && !(cfg.activation === 'linear' || (cfg.activation === 'softmax' && path.length === 1))) break;
    if ((cls === 'Conv2D' || cls === 'Dense') && cfg.useBias) {
      if (cfg.activation !== 'linear' && cfg.activation !== undefined) break;
      const [kernel, bias] = layer.getWeights();
      if (bias.size !== offsets.length) throw new UserError(`the logit layer has ${bias.size} outputs, ${offsets.length} offsets given`);
      const shifted = tf.tidy(() => tf.add(bias, tf.tensor1d(offsets)));
      layer.setWeights([kernel, shifted]);
      shifted.dispose();
      return;
    }
    if (!['Activation', 'GlobalAveragePooling2D', 'Flatten'].includes(cls)) break;
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1) break;
    layer = inbound[0];
  }
  throw new UserError(`cannot fold logit offsets into this model: its output path is ${path.join(' <- ')}`);
}
