/**
 * The age a face result reports, from an age model's output: the model gives probabilities over
 * anchor ages (src/data/age.ts: `meta.age.centres`, else its labels read as years); the estimate is
 * their expectation (after the runtime's test-time augmentation, which averages probabilities), and
 * the range [lo, hi] is the model card's: validation residual quantiles per band of predicted age
 * (`meta.age.range`, fitted when the model was shipped). A model without a fitted range gets the
 * central interval of its own distribution over the anchors (same level, uncalibrated). No Node imports.
 */
import { ageRange, expectedAge, type AgeRangeSpec } from '../data/age.js';
import type { AgeEstimate } from './types.js';

/** Central probability of the fallback range when a model has no fitted range (the shipped cards use 0.9). */
export const DEFAULT_AGE_RANGE_LEVEL = 0.9;

interface AgeMetaField {
  centres?: number[];
  range?: AgeRangeSpec;
}

/** What of a model's metadata the age needs: its labels and the codec stored under `age`. */
export interface AgeModelMeta {
  labels: string[];
  age?: unknown;
}

/** The anchor ages of an age model's outputs: its codec's centres, else its labels as numbers. */
export function ageCentres(meta: AgeModelMeta): number[] {
  const centres = (meta.age as AgeMetaField | undefined)?.centres;
  const list = Array.isArray(centres) && centres.length === meta.labels.length ? centres : meta.labels.map(Number);
  if (!list.every((c) => Number.isFinite(c))) throw new Error(`an age model's outputs must be anchor ages, got labels ${meta.labels.join(', ')}`);
  return list;
}

/** The range fitted for an age model (model card / metadata `age.range`), when it has one. */
export function ageRangeSpec(meta: AgeModelMeta): AgeRangeSpec | undefined {
  const range = (meta.age as AgeMetaField | undefined)?.range;
  return range && Array.isArray(range.bands) && range.bands.length > 0 ? range : undefined;
}

/**
 * Quantile q of a distribution over ascending anchors, with the probability of each anchor spread
 * evenly over the half-gaps to its neighbours (a piecewise-linear CDF through the anchor midpoints).
 */
export function anchorQuantile(probs: ArrayLike<number>, centres: readonly number[], q: number): number {
  const k = centres.length;
  const z = Array.from({ length: k }, (_, i) => probs[i]).reduce((a, b) => a + b, 0);
  let below = 0;
  for (let i = 0; i < k; i++) {
    const p = probs[i] / z;
    const lo = i === 0 ? centres[0] : (centres[i - 1] + centres[i]) / 2;
    const hi = i === k - 1 ? centres[k - 1] : (centres[i] + centres[i + 1]) / 2;
    if (below + p >= q && p > 0) return lo + ((q - below) / p) * (hi - lo);
    below += p;
  }
  return centres[k - 1];
}

/** The age of one face from its probabilities over the anchors: years to 0.1, the range in whole years. */
export function toAgeEstimate(probs: ArrayLike<number>, meta: AgeModelMeta): AgeEstimate {
  const centres = ageCentres(meta);
  const years = expectedAge(probs, centres);
  const spec = ageRangeSpec(meta);
  const tail = (1 - DEFAULT_AGE_RANGE_LEVEL) / 2;
  const [lo, hi] = spec ? ageRange(years, spec) : [anchorQuantile(probs, centres, tail), anchorQuantile(probs, centres, 1 - tail)];
  return { years: Math.round(years * 10) / 10, range: [Math.round(lo), Math.round(hi)] };
}

/** "31 (24-40)": the age as the table, labels and page show it. */
export function formatAge(a: AgeEstimate): string {
  return `${Math.round(a.years)} (${a.range[0]}-${a.range[1]})`;
}
