/** The real-time pipeline: detection, batched emotion + gender, tracking, annotation, video. */
export * from './types.js';
export {
  FaceClassifier,
  DEFAULT_CROP_MARGIN,
  DETECTOR_BOX_SCALE,
  detectorMargin,
  detectorCropBox,
  defaultModelDir,
  toLabelScores,
  type FaceClassifierOptions,
  type ClassifyOptions,
  type ImageInput,
} from './face-classifier.js';
export { FaceTracker, type TrackerOptions } from './tracker.js';
export { annotatePng, annotateRgb, overlaySvg } from './annotate.js';
export { EMOTION_COLOURS } from '../core/colours.js';
export { probeVideo, readFrames, VideoWriter, StreamError, type VideoInfo, type Frame } from './ffmpeg.js';
export { processStream, type StreamOptions, type StreamSummary } from './video.js';
export {
  classifyFile,
  fetchInput,
  isTransient,
  isUrl,
  TransientError,
  MAX_DOWNLOAD_BYTES,
  type FileResult,
  type InputItem,
  type ClassifyFileOptions,
} from './file-result.js';
