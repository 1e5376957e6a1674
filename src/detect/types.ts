/**
 * One interface for every face detector. Boxes are in pixels of the image passed to `detect`,
 * [x, y, width, height], clipped to the image.
 */
import { UserError } from '../errors.js';
import type { Box, RawImage } from '../data/preprocess.js';

export const DETECTORS = ['blazeface', 'haar'] as const;
export type DetectorName = (typeof DETECTORS)[number];

/**
 * BlazeFace tiles: 'auto' (a second look when the whole frame shows a possible face below the
 * threshold), true (always), false (never), 'dense' (always, plus a grid of 256 px tiles: crowds and
 * small faces in photos, several times the cost).
 */
/**
 * How a detector's boxes sit on an aligned face chip (a UTKFace chip, the framing the classifiers
 * were trained on), measured by bench/box-framing.ts on composed UTKFace frames: `scale`, the box's
 * larger side / the chip side; `shift`, how far below the box centre the chip centre lies, as a
 * fraction of the box's larger side. The classifier crop rule (src/pipeline/face-classifier.ts) uses
 * both. BlazeFace: before its box was extended to the forehead (BLAZEFACE_DEFAULTS.boxTop), 0.91 and
 * ~0; the extension makes boxes 1.15x taller with the centre 0.075 of the old height higher, so the
 * same crops need scale 0.91 x 1.15 = 1.05 (measured: 0.921 -> 1.058, the same 1.15 ratio) and shift
 * 0.075 / 1.15 = 0.065. Haar: 1.03, 0.
 */
export const DETECTOR_FRAMING: Record<DetectorName, { scale: number; shift: number }> = {
  blazeface: { scale: 1.05, shift: 0.065 },
  haar: { scale: 1.03, shift: 0 },
};

export type TileMode = boolean | 'auto' | 'dense';

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
   * possible face scoring below the threshold; true: always; false: never; 'dense': always, with a
   * second, finer grid (crowds, small faces).
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

/** A detector name, checked: a UserError naming the value and the choices otherwise. */
export function parseDetectorName(name: string): DetectorName {
  if (!isDetectorName(name)) throw new UserError(`unknown detector "${name}": choose one of ${DETECTORS.join(', ')}`);
  return name;
}
