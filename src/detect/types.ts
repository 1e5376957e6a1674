/**
 * One interface for every face detector. Boxes are in pixels of the image passed to `detect`,
 * [x, y, width, height], clipped to the image.
 */
import type { Box, RawImage } from '../data/preprocess.js';

export const DETECTORS = ['blazeface', 'haar'] as const;
export type DetectorName = (typeof DETECTORS)[number];

export type TileMode = boolean | 'auto';

export interface Detection {
  box: Box;
  /** Detector confidence in [0, 1] (the Haar cascade reports 1: it has no calibrated score). */
  score: number;
}

export interface DetectOptions {
  /** Drop faces whose box side (the larger of width and height) is below this many pixels of the input image. Default 0. */
  minFaceSize?: number;
  /** Minimum detector score (CNN detectors). */
  scoreThreshold?: number;
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
