/**
 * One interface for every face detector. Boxes are in pixels of the image passed to `detect`,
 * [x, y, width, height], clipped to the image.
 */
import type { Box, RawImage } from '../data/preprocess.js';

export const DETECTORS = ['blazeface', 'haar'] as const;
export type DetectorName = (typeof DETECTORS)[number];

export type TileMode = boolean | 'auto';

/** A point [x, y] in pixels of the image passed to `detect`. */
export type Point = [number, number];

/**
 * BlazeFace's six keypoints, in the order its regressors carry them after the 4 box values (MediaPipe's
 * order and names): named from the person's point of view, so `rightEye` is the person's right eye,
 * on the image's left in a frontal, upright face (@vladmandic/human calls the same point "leftEye":
 * it names them from the viewer's side).
 */
export const KEYPOINT_NAMES = ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar'] as const;
export type KeypointName = (typeof KEYPOINT_NAMES)[number];
/** Facial keypoints by name, in pixels of the image (not clipped: an ear may lie outside it). */
export type Keypoints = Record<KeypointName, Point>;

export interface Detection {
  box: Box;
  /** Detector confidence in [0, 1] (the Haar cascade reports 1: it has no calibrated score). */
  score: number;
  /** Eyes, nose, mouth and ears when the detector has them (BlazeFace; not the Haar cascade). */
  keypoints?: Keypoints;
}

export interface DetectOptions {
  /** Drop faces whose box side (the larger of width and height) is below this many pixels of the input image. Default 0. */
  minFaceSize?: number;
  /** Minimum detector score (CNN detectors). */
  scoreThreshold?: number;
  /**
   * Evaluation (precision-recall curves): also return detections scoring down to this (below
   * `scoreThreshold`), while `scoreThreshold` still decides what counts as a face elsewhere (e.g. the
   * 'auto' tiles decision), so the detector behaves as at its threshold. Default: `scoreThreshold`.
   */
  minScore?: number;
  /** IoU above which overlapping boxes are suppressed. */
  iouThreshold?: number;
  /** At most this many faces, best first. */
  maxFaces?: number;
  /**
   * CNN detectors: also look at overlapping square tiles of a non-square frame, which finds small
   * faces at about 3x the detection time. 'auto' (default): only when the whole-frame pass sees a
   * possible face scoring below the threshold; true: always; false: never.
   */
  tiles?: TileMode;
}

export interface Detector {
  readonly name: DetectorName;
  detect(img: RawImage, opts?: DetectOptions): Promise<Detection[]>;
  dispose(): void;
}

export function isDetectorName(name: string): name is DetectorName {
  return (DETECTORS as readonly string[]).includes(name);
}
