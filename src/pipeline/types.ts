/** Result shapes shared by the library API, the CLI (`classify --json`) and the HTTP API. */
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
}

/** One face in a video frame: a track id that follows it across frames. */
export interface TrackedFace extends FaceResult {
  track: number;
}

export interface FrameResult {
  frame: number;
  /** Seconds from the start of the stream. */
  time: number;
  faces: TrackedFace[];
}

/** Milliseconds spent per stage on one image. */
export interface StageTimes {
  decode: number;
  detect: number;
  classify: number;
}
