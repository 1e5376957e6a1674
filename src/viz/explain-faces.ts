/**
 * Saliency for faces of an image: each face cropped exactly as the classifiers do (the crop rule's
 * crops and the one preprocessing), all faces explained in one batched pass; with the classifier's
 * predictions given, the class explained and reported is the one classification reports. No Node
 * imports (the browser package uses it too); PNG panels are ./explain.ts.
 */
import type * as tf from '@tensorflow/tfjs';
import { preprocessBatch, type Box, type FaceCrop, type RawImage } from '../data/preprocess.js';
import { ageCentres, toAgeEstimate } from '../core/age.js';
import { ageTarget } from '../data/age.js';
import type { AgeEstimate, LabelScores } from '../core/types.js';
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-meta.js';
import { graphScores, saliencyMaps, type SaliencyOptions } from './saliency.js';

export interface ExplainedFace {
  /** Crop box in image pixels (already grown by the crop margin). */
  box: Box;
  /** The crop's turn about the box centre when the face was aligned (FaceCrop.angle). */
  angle?: number;
  classIndex: number;
  label: string;
  /** Probability of the explained class. */
  probability: number;
  /** Predicted (top-1) class and its probability: the classifier's (with its TTA) when given, else the saliency pass's. */
  predicted: { label: string; probability: number };
  probabilities: Record<string, number>;
  /**
   * An age model's map explains its estimate (the expectation over the anchor ages) unless a class
   * (anchor) was asked for: then `age` is that estimate (classification's when given) and
   * label / classIndex / probability are the most probable anchor's.
   */
  age?: AgeEstimate;
  /** 'expected-age' when the map explains an age model's estimate rather than one class (anchor). */
  explains?: 'expected-age';
  /** Map [size x size] in [0, 1] at the model input size. */
  map: Float32Array;
  size: number;
}

export interface ExplainOptions extends Omit<SaliencyOptions, 'classIndex'> {
  /**
   * Class to explain by label (case-insensitive) or index: one for all faces, or one per face (e.g.
   * the label a video annotation shows). Default: the predicted class of each face.
   */
  className?: string | readonly string[];
  /**
   * The classifier's prediction for each face (FaceResult.emotion / .gender / .age: the runtime's output,
   * test-time augmentation included). Given, it is the predicted class reported and explained by
   * default, so saliency tells the same as classification; for an age model, the estimate reported.
   */
  predicted?: ReadonlyArray<LabelScores | AgeEstimate | undefined>;
  /** The model input of the crops when already preprocessed (ClassifiedFaces.inputs), else made here. */
  batch?: Float32Array;
}

/** Resolve a class given by name or index against the model's labels. */
export function resolveClass(labels: string[], name: string): number {
  const byName = labels.findIndex((l) => l.toLowerCase() === name.trim().toLowerCase());
  if (byName >= 0) return byName;
  if (/^\d+$/.test(name.trim()) && Number(name) < labels.length) return Number(name);
  throw new UserError(`unknown class "${name}": the model's classes are ${labels.join(', ')}`);
}

const isLabelScores = (p: LabelScores | AgeEstimate | undefined): p is LabelScores => p !== undefined && 'label' in p;

function classIndices(meta: ModelMeta, opts: ExplainOptions, n: number): number | number[] | undefined {
  const { className, predicted } = opts;
  if (className !== undefined) return typeof className === 'string' ? resolveClass(meta.labels, className) : className.map((c) => resolveClass(meta.labels, c));
  const labels = predicted?.map((p) => (isLabelScores(p) ? p.label : undefined));
  if (labels && labels.length === n && labels.every((l): l is string => l !== undefined)) return labels.map((l) => resolveClass(meta.labels, l));
  return undefined;
}

/** Top class of a probability row. */
function top(labels: readonly string[], p: ArrayLike<number>): { label: string; probability: number; index: number } {
  let k = 0;
  for (let j = 1; j < p.length; j++) if (p[j] > p[k]) k = j;
  return { label: labels[k], probability: p[k], index: k };
}

/**
 * What an age map explains: each face's estimate (classification's when given, else the model's own on
 * the batch) as its two-hot encoding over the anchor ages, the training target of that age
 * (src/data/age.ts ageTarget, no label noise): the scores of the two anchors around the estimate,
 * weighted by where it lies between them (docs/saliency.md, "Age").
 */
function estimateWeights(
  model: tf.LayersModel,
  meta: ModelMeta,
  batch: Float32Array,
  n: number,
  predicted: ExplainOptions['predicted'],
): { ages: AgeEstimate[]; weights: number[][] } {
  const given = predicted?.map((p) => (p !== undefined && !isLabelScores(p) ? p : undefined));
  let ages = given?.length === n && given.every((a) => a !== undefined) ? (given as AgeEstimate[]) : undefined;
  if (!ages) {
    const k = meta.labels.length;
    const out = graphScores(model, batch, 'probability');
    const probs = out.dataSync() as Float32Array;
    out.dispose();
    ages = Array.from({ length: n }, (_, i) => toAgeEstimate(probs.subarray(i * k, (i + 1) * k), meta));
  }
  const codec = { centres: ageCentres(meta), sigma: 0 };
  return { ages, weights: ages.map((a) => Array.from(ageTarget(a.years, codec))) };
}

/**
 * Saliency maps for faces of an image: each crop (a box, or a crop turned by its angle: the crop rule's
 * FaceCrop) cut by the one preprocessing, all faces in one batched pass.
 */
export function explainFaces(
  model: tf.LayersModel,
  meta: ModelMeta,
  img: RawImage,
  crops: ReadonlyArray<Box | FaceCrop>,
  opts: ExplainOptions,
): ExplainedFace[] {
  if (crops.length === 0) return [];
  const size = meta.inputSize;
  const faceCrops = crops.map((c): FaceCrop => (Array.isArray(c) ? { box: c as Box } : (c as FaceCrop)));
  const batch = opts.batch ?? preprocessBatch(img, faceCrops, { inputSize: size, channels: meta.channels === 3 ? 3 : 1 });
  // An age model explains its estimate (unless an anchor is named): the two-hot weights of the estimate.
  const ageWeights = meta.task === 'age' && opts.className === undefined ? estimateWeights(model, meta, batch, faceCrops.length, opts.predicted) : undefined;
  const classIndex = ageWeights ? undefined : classIndices(meta, opts, faceCrops.length);
  const r = saliencyMaps(model, batch, { method: opts.method, score: opts.score, camLayer: opts.camLayer, classIndex, classWeights: ageWeights?.weights });
  return faceCrops.map(({ box, angle }, i) => {
    const given = opts.predicted?.[i];
    const scores = isLabelScores(given) ? given : undefined;
    const probs = scores ? meta.labels.map((l) => scores.scores[l] ?? 0) : Array.from(r.probabilities[i]);
    const best = top(meta.labels, probs);
    const k = ageWeights ? best.index : r.classIndex[i];
    const age = meta.task === 'age' ? (ageWeights?.ages[i] ?? (given && !isLabelScores(given) ? given : toAgeEstimate(r.probabilities[i], meta))) : undefined;
    return {
      box,
      ...(angle ? { angle } : {}),
      classIndex: k,
      label: meta.labels[k],
      probability: probs[k],
      predicted: scores
        ? { label: scores.label, probability: scores.scores[scores.label] ?? 0 }
        : { label: meta.labels[best.index], probability: best.probability },
      probabilities: Object.fromEntries(meta.labels.map((l, j) => [l, probs[j]])),
      ...(age ? { age } : {}),
      ...(ageWeights ? { explains: 'expected-age' as const } : {}),
      map: r.maps[i],
      size,
    };
  });
}
