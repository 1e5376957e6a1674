/**
 * Age estimation metrics: mean absolute error (MAE, years), root mean square error, bias (mean of
 * predicted minus true), per decade, gender and ethnic group; the age range [lo, hi] a model reports
 * (validation residual quantiles per band of predicted age, fitted at ship time and stored in the
 * model's metadata) and its coverage; and the binned predicted-against-true curve for a plot.
 */
import { ageDecade, AGE_DECADES, ageRange, type AgeRangeSpec } from '../data/age.js';
import type { SampleMeta } from '../data/dataset.js';

/** The range rule lives with the codec (src/data/age.ts), where the pipeline reads it too. */
export { ageRange, type AgeRangeSpec } from '../data/age.js';

export interface AgeErrorRow {
  value: string;
  n: number;
  /** Mean absolute error, years. */
  mae: number;
  /** Mean of predicted minus true, years (positive: the model guesses older). */
  bias: number;
}

export interface AgeMetrics {
  n: number;
  mae: number;
  rmse: number;
  bias: number;
  medianAbsError: number;
  /** Fraction of estimates within 5 and 10 years of the truth. */
  within5: number;
  within10: number;
  perDecade: AgeErrorRow[];
  perGender: AgeErrorRow[];
  perRace: AgeErrorRow[];
  /** With a range spec: fraction of true ages inside [lo, hi] and the mean width, years. */
  range?: { level: number; coverage: number; meanWidth: number };
  /** Per 5-year band of true age: mean and 10th / 90th percentiles of the predictions (the plot). */
  binned: Array<{ from: number; n: number; meanPredicted: number; p10: number; p90: number }>;
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

function errorRow(value: string, truth: number[], pred: number[], idx: number[]): AgeErrorRow {
  let [abs, sum] = [0, 0];
  for (const i of idx) {
    abs += Math.abs(pred[i] - truth[i]);
    sum += pred[i] - truth[i];
  }
  return { value, n: idx.length, mae: idx.length ? abs / idx.length : NaN, bias: idx.length ? sum / idx.length : NaN };
}

/** Rows per group value (in `order`, then any others), skipping samples without the attribute. */
function groupRows(truth: number[], pred: number[], keyOf: (i: number) => string | undefined, order: readonly string[]): AgeErrorRow[] {
  const by = new Map<string, number[]>();
  for (let i = 0; i < truth.length; i++) {
    const k = keyOf(i);
    if (k === undefined) continue;
    by.set(k, [...(by.get(k) ?? []), i]);
  }
  const keys = [...by.keys()].sort(
    (a, b) => (order.indexOf(a) < 0 ? 99 : order.indexOf(a)) - (order.indexOf(b) < 0 ? 99 : order.indexOf(b)) || (a < b ? -1 : 1),
  );
  return keys.map((k) => errorRow(k, truth, pred, by.get(k)!));
}

/** Band edges (lower bounds, years of predicted age) of the range spec. */
export const AGE_RANGE_BANDS = [0, 10, 20, 30, 45, 60] as const;

/** Fit the range: residual quantiles (1 - level) / 2 and (1 + level) / 2 per band of predicted age (bands with < 20 samples borrow all). */
export function fitAgeRange(truth: number[], pred: number[], level = 0.9, fittedOn?: string): AgeRangeSpec {
  const lo = (1 - level) / 2;
  const all = truth.map((t, i) => t - pred[i]).sort((a, b) => a - b);
  const bands = AGE_RANGE_BANDS.map((from, b) => {
    const to = b + 1 < AGE_RANGE_BANDS.length ? AGE_RANGE_BANDS[b + 1] : null;
    const res = truth.flatMap((t, i) => (pred[i] >= from && (to === null || pred[i] < to) ? [t - pred[i]] : [])).sort((a, c) => a - c);
    const use = res.length >= 20 ? res : all;
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return { from, to, n: res.length, lo: r2(quantile(use, lo)), hi: r2(quantile(use, 1 - lo)) };
  });
  return { level, ...(fittedOn ? { fittedOn } : {}), bands };
}

function binned(truth: number[], pred: number[]): AgeMetrics['binned'] {
  const out: AgeMetrics['binned'] = [];
  for (let from = 0; from < 120; from += 5) {
    const p = pred.filter((_, i) => truth[i] >= from && truth[i] < from + 5).sort((a, b) => a - b);
    if (p.length) out.push({ from, n: p.length, meanPredicted: p.reduce((a, b) => a + b, 0) / p.length, p10: quantile(p, 0.1), p90: quantile(p, 0.9) });
  }
  return out;
}

/** Every age metric of predictions `pred` against `truth` (years), grouped by the samples' metadata. */
export function ageMetrics(truth: number[], pred: number[], meta: Array<SampleMeta | undefined>, range?: AgeRangeSpec): AgeMetrics {
  const n = truth.length;
  const abs = truth.map((t, i) => Math.abs(pred[i] - t));
  const sortedAbs = [...abs].sort((a, b) => a - b);
  const all = errorRow(
    'all',
    truth,
    pred,
    truth.map((_, i) => i),
  );
  const hasRace = meta.some((m) => m?.race !== undefined);
  const out: AgeMetrics = {
    n,
    mae: all.mae,
    rmse: n ? Math.sqrt(abs.reduce((a, e) => a + e * e, 0) / n) : NaN,
    bias: all.bias,
    medianAbsError: quantile(sortedAbs, 0.5),
    within5: n ? abs.filter((e) => e <= 5).length / n : NaN,
    within10: n ? abs.filter((e) => e <= 10).length / n : NaN,
    perDecade: groupRows(truth, pred, (i) => ageDecade(truth[i]), AGE_DECADES),
    perGender: groupRows(truth, pred, (i) => meta[i]?.gender, ['woman', 'man']),
    perRace: hasRace ? groupRows(truth, pred, (i) => meta[i]?.race ?? 'unknown', ['white', 'black', 'asian', 'indian', 'others', 'unknown']) : [],
    binned: binned(truth, pred),
  };
  if (range && n) {
    let [inside, width] = [0, 0];
    for (let i = 0; i < n; i++) {
      const [lo, hi] = ageRange(pred[i], range);
      if (truth[i] >= lo && truth[i] <= hi) inside++;
      width += hi - lo;
    }
    out.range = { level: range.level, coverage: inside / n, meanWidth: width / n };
  }
  return out;
}

/** Gaps a card reports: worst ethnic group (>= 30 samples) MAE minus overall, and women minus men MAE (years). */
export function ageGaps(m: AgeMetrics): { worstEthnicGroup?: { value: string; mae: number; aboveOverall: number }; womenMinusMen?: number } {
  const races = m.perRace.filter((r) => r.value !== 'unknown' && r.n >= 30);
  const worst = races.length ? races.reduce((a, b) => (b.mae > a.mae ? b : a)) : undefined;
  const w = m.perGender.find((g) => g.value === 'woman');
  const man = m.perGender.find((g) => g.value === 'man');
  const r2 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    ...(worst ? { worstEthnicGroup: { value: worst.value, mae: worst.mae, aboveOverall: r2(worst.mae - m.mae) } } : {}),
    ...(w && man && w.n && man.n ? { womenMinusMen: r2(w.mae - man.mae) } : {}),
  };
}
