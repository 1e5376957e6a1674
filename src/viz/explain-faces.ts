/**
 * Saliency for faces of an image: each face cropped exactly as the classifiers do (the crop rule's
 * crops and the one preprocessing), all faces explained in one batched pass; with the classifier's
 * predictions given, the class explained and reported is the one classification reports. No Node
 * imports (the browser package uses it too); PNG panels are ./explain.ts.
 */
import type * as tf from '@tensorflow/tfjs';
import { preprocessBatch, type Box, type FaceCrop, type RawImage } from '../data/preprocess.js';
import type { LabelScores } from '../core/types.js';
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-meta.js';
import { saliencyMaps, type SaliencyOptions } from './saliency.js';

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
   * The classifier's prediction for each face (FaceResult.emotion / .gender: the runtime's output,
   * test-time augmentation included). Given, it is the predicted class reported and explained by
   * default, so saliency tells the same as classification.
   */
  predicted?: ReadonlyArray<LabelScores | undefined>;
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

function classIndices(meta: ModelMeta, opts: ExplainOptions, n: number): number | number[] | undefined {
  const { className, predicted } = opts;
  if (className !== undefined) return typeof className === 'string' ? resolveClass(meta.labels, className) : className.map((c) => resolveClass(meta.labels, c));
  const labels = predicted?.map((p) => p?.label);
  if (labels && labels.length === n && labels.every((l): l is string => l !== undefined)) return labels.map((l) => resolveClass(meta.labels, l));
  return undefined;
}

/** Top class of a probability row. */
function top(labels: readonly string[], p: ArrayLike<number>): { label: string; probability: number } {
  let k = 0;
  for (let j = 1; j < p.length; j++) if (p[j] > p[k]) k = j;
  return { label: labels[k], probability: p[k] };
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
  const classIndex = classIndices(meta, opts, faceCrops.length);
  const r = saliencyMaps(model, batch, { method: opts.method, score: opts.score, camLayer: opts.camLayer, classIndex });
  return faceCrops.map(({ box, angle }, i) => {
    const given = opts.predicted?.[i];
    const probs = given ? meta.labels.map((l) => given.scores[l] ?? 0) : Array.from(r.probabilities[i]);
    const k = r.classIndex[i];
    return {
      box,
      ...(angle ? { angle } : {}),
      classIndex: k,
      label: meta.labels[k],
      probability: probs[k],
      predicted: given ? { label: given.label, probability: given.scores[given.label] ?? 0 } : top(meta.labels, probs),
      probabilities: Object.fromEntries(meta.labels.map((l, j) => [l, probs[j]])),
      map: r.maps[i],
      size,
    };
  });
}
