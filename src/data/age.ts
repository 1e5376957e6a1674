/**
 * Age as a task: the model predicts a probability distribution over a few age anchors ("bins", in
 * years) and the age is its expectation (sum of p_i * centre_i), as DEX (Rothe et al. 2015) and label
 * distribution learning (Gao et al. 2017) do, with the two-hot / HL-Gauss targets of "Stop regressing"
 * (Farebrother et al. 2024): the target of an age a is the linear interpolation between the two
 * neighbouring centres (its expectation is a itself), averaged over a Gaussian of the label noise
 * (sigma years). Why this and not an L1 regression: the training engine, every runtime, the flip TTA
 * (averaging probabilities averages the expectation), ensembles (Average of softmax outputs), ONNX
 * export and distillation all work on softmax outputs trained with cross-entropy against target
 * probabilities, so age needs no new loss, layer or output type anywhere.
 *
 * The classifier of the zoo's mini-Xception costs 1,153 parameters per output (a 3x3 convolution from
 * 128 channels), so 8 anchors keep the fast model under 60k parameters (59,576).
 */
import type { Sample } from './dataset.js';

/** Anchor ages of the fast model (years): dense where UTKFace is (20-40), clamped at 1 and 90. */
export const AGE_CENTRES = [1, 7, 16, 24, 32, 44, 60, 90] as const;
/** Default label-noise sigma (years) of the training targets. */
export const DEFAULT_AGE_SIGMA = 2;

/** How a model's outputs map to years; stored in the model's metadata as `age`. */
export interface AgeCodec {
  /** Ascending anchor ages, one per output. */
  centres: number[];
  /** Gaussian label noise (years) of the training targets; 0 = plain two-hot. */
  sigma: number;
}

export const DEFAULT_AGE_CODEC: AgeCodec = { centres: [...AGE_CENTRES], sigma: DEFAULT_AGE_SIGMA };

/** The labels of an age model: its anchors as text ("1", "7", ..., "90"). */
export function ageLabels(codec: AgeCodec = DEFAULT_AGE_CODEC): string[] {
  return codec.centres.map((c) => String(c));
}

/** A codec read from model metadata or options; an error names what is wrong. */
export function checkAgeCodec(c: AgeCodec): AgeCodec {
  const ok = Array.isArray(c.centres) && c.centres.length >= 2 && c.centres.every((v, i) => Number.isFinite(v) && (i === 0 || v > c.centres[i - 1]));
  if (!ok) throw new Error(`age anchors must be at least two ascending numbers, got ${JSON.stringify(c.centres)}`);
  if (!(c.sigma >= 0)) throw new Error(`age sigma must be >= 0, got ${c.sigma}`);
  return c;
}

/** Add the two-hot target of age `a` (clamped to the anchors), scaled by `w`, into `out`. */
function addTwoHot(a: number, centres: number[], w: number, out: Float32Array | number[], offset: number): void {
  const k = centres.length;
  if (a <= centres[0]) {
    out[offset] += w;
    return;
  }
  if (a >= centres[k - 1]) {
    out[offset + k - 1] += w;
    return;
  }
  let i = 0;
  while (a > centres[i + 1]) i++;
  const t = (centres[i + 1] - a) / (centres[i + 1] - centres[i]);
  out[offset + i] += w * t;
  out[offset + i + 1] += w * (1 - t);
}

/** Gaussian quadrature-like offsets (in sigmas) and their normalised weights: 13 points in [-3, 3]. */
const NOISE_Z = Array.from({ length: 13 }, (_, i) => -3 + i * 0.5);
const NOISE_W = (() => {
  const w = NOISE_Z.map((z) => Math.exp(-0.5 * z * z));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
})();

/**
 * The target distribution of age `age` over the codec's anchors, written at `out[offset..]`:
 * the two-hot encoding averaged over ages age + sigma * z (z ~ N(0, 1), 13-point rule), each clamped
 * to the anchors. Its expectation is `age` wherever no point is clamped.
 */
export function ageTarget(
  age: number,
  codec: AgeCodec = DEFAULT_AGE_CODEC,
  out: Float32Array = new Float32Array(codec.centres.length),
  offset = 0,
): Float32Array {
  const k = codec.centres.length;
  out.fill(0, offset, offset + k);
  if (codec.sigma <= 0) {
    addTwoHot(age, codec.centres, 1, out, offset);
    return out;
  }
  for (let j = 0; j < NOISE_Z.length; j++) addTwoHot(Math.max(0, age + codec.sigma * NOISE_Z[j]), codec.centres, NOISE_W[j], out, offset);
  return out;
}

/** The predicted age of one probability row: its expectation over the anchors (probabilities renormalised). */
export function expectedAge(probs: ArrayLike<number>, centres: readonly number[], offset = 0): number {
  let s = 0;
  let z = 0;
  for (let i = 0; i < centres.length; i++) {
    const p = probs[offset + i];
    s += p * centres[i];
    z += p;
  }
  return z > 0 ? s / z : NaN;
}

/** The anchor nearest to `age` (the "class" an age sample carries; accuracy over it is a rough figure). */
export function nearestAnchor(age: number, centres: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < centres.length; i++) if (Math.abs(centres[i] - age) < Math.abs(centres[best] - age)) best = i;
  return best;
}

/** Relabel samples that carry `meta.age` for an age model: label = nearest anchor. Samples without an age are dropped. */
export function ageSamples(samples: Sample[], codec: AgeCodec = DEFAULT_AGE_CODEC): Sample[] {
  return samples.filter((s) => typeof s.meta?.age === 'number').map((s) => ({ ...s, label: nearestAnchor(s.meta!.age!, codec.centres) }));
}

/** The age of a sample (its metadata); NaN when unknown. */
export function sampleAge(s: Sample): number {
  return typeof s.meta?.age === 'number' ? s.meta.age : NaN;
}

/** Decade band of an age: "0-9", "10-19", ..., "70+" (ages of 70 and more share a band). */
export function ageDecade(age: number): string {
  const d = Math.min(7, Math.floor(age / 10));
  return d === 7 ? '70+' : `${d * 10}-${d * 10 + 9}`;
}

export const AGE_DECADES = ['0-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70+'] as const;

/** Residual quantiles (true minus predicted) per band of predicted age: the range is [pred + lo, pred + hi]. */
export interface AgeRangeSpec {
  /** Central probability the range is meant to cover, e.g. 0.9 (quantiles 0.05 and 0.95). */
  level: number;
  /** What the quantiles were fitted on, e.g. "UTKFace validation split, flip TTA". */
  fittedOn?: string;
  bands: Array<{ from: number; to: number | null; n: number; lo: number; hi: number }>;
}

/** The range [lo, hi] (years, lo >= 0) for a predicted age under `spec`. */
export function ageRange(pred: number, spec: AgeRangeSpec): [number, number] {
  const band = spec.bands.find((b) => pred >= b.from && (b.to === null || pred < b.to)) ?? spec.bands[spec.bands.length - 1];
  return [Math.max(0, pred + band.lo), Math.max(0, pred + band.hi)];
}
