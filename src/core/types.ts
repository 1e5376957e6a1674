/**
 * THE result shapes, shared by the library API, the CLI (`classify --json`), the HTTP API, batch
 * results and the browser package (facecls/browser). No Node imports.
 */
import type { Box } from '../data/preprocess.js';
import type { Keypoints } from '../detect/types.js';

export interface LabelScores {
  label: string;
  /** Probability of every class, by label. */
  scores: Record<string, number>;
}

export interface FaceResult {
  /** Detector box [x, y, width, height] in pixels of the (EXIF-rotated) image. */
  box: Box;
  /** Detector confidence in [0, 1]; 1 for `--crops` inputs, which skip detection. */
  score: number;
  /**
   * Eyes, nose, mouth and ears [x, y] in pixels of the image, named from the person's point of view
   * (`rightEye` is on the image's left in a frontal face), when the detector gives them (BlazeFace).
   */
  keypoints?: Keypoints;
  emotion?: LabelScores;
  gender?: LabelScores;
  /**
   * Estimated (apparent) age: `years` is the expectation of the age model's distribution over its
   * anchor ages (0.1 year steps), `range` [lo, hi] whole years from the model card's validation
   * residual quantiles (src/core/age.ts). Absent when the age task is off.
   */
  age?: AgeEstimate;
}

export interface AgeEstimate {
  years: number;
  range: [number, number];
}

/** One face in a video frame: a track id that follows it across frames. */
export interface TrackedFace extends FaceResult {
  track: number;
}

/** The classifier tasks a FaceResult carries, in the order they run in the one batched step. */
export const CLASSIFIER_TASKS = ['emotion', 'gender', 'age'] as const;
export type ClassifierTask = (typeof CLASSIFIER_TASKS)[number];

/** The tasks whose result is a class with labelled scores (age is a number of years with a range). */
export const LABEL_TASKS = ['emotion', 'gender'] as const;
export type LabelTask = (typeof LABEL_TASKS)[number];

/** Saliency methods (src/viz/saliency.ts), with the titles panels and the page show. */
export const SALIENCY_METHODS = ['guided', 'gradcam', 'guided-gradcam'] as const;
export type SaliencyMethod = (typeof SALIENCY_METHODS)[number];

export const METHOD_TITLES: Readonly<Record<SaliencyMethod, string>> = {
  guided: 'guided backprop',
  gradcam: 'Grad-CAM',
  'guided-gradcam': 'guided Grad-CAM',
};

export function isSaliencyMethod(s: string): s is SaliencyMethod {
  return (SALIENCY_METHODS as readonly string[]).includes(s);
}
