/** Result shapes of the pipeline: the core's FaceResult (src/core/types.ts) plus video frames and stage times. */
import type { TrackedFace } from '../core/types.js';

export type { AgeEstimate, LabelScores, FaceResult, TrackedFace } from '../core/types.js';

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
