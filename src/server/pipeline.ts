/**
 * What the server needs from the detection + classification pipeline. The server is built around
 * this interface so that it can run the real FaceClassifier (src/pipeline) or, in tests, any
 * pipeline assembled from zoo models.
 */
import type { RawImage } from '../data/preprocess.js';
import type { ClassifierTask, FaceResult, SaliencyMethod } from '../core/types.js';
import type { ModelMeta } from '../io/model-store.js';

export type { FaceResult, LabelScores } from '../core/types.js';
export { SALIENCY_METHODS, type SaliencyMethod } from '../core/types.js';

/** Same shape as `facecls classify --json` and the library API (without the file name). */
export interface ClassifyResult {
  width: number;
  height: number;
  faces: FaceResult[];
  /**
   * With `crops`, when no face was found in the crop: its one face is the whole image, used as given
   * (not framed by the crop rule), as `facecls classify --crops` and `saliency --crops` do. Internal:
   * saliency needs it to cut the same crop; the JSON response schema leaves it out.
   */
  asGiven?: boolean;
}

export interface ClassifyOptions {
  /** Smallest face side in pixels the detector reports. */
  minFaceSize?: number;
  /** The image is already a face crop: skip detection. */
  crops?: boolean;
  /** Detection only: boxes, scores and keypoints (no emotion, gender or age). */
  detectOnly?: boolean;
  /** false: no age estimate (the age model does not run; faces have no `age`), like the CLI's --no-age. */
  age?: boolean;
}

export interface SaliencyOptions {
  task: ClassifierTask;
  method: SaliencyMethod;
  /** Class to explain; default the predicted class of each face (age: the estimate). */
  className?: string;
}

/** A model the pipeline runs, as shown by GET /v1/models and fetched by the web page. */
export interface ServedModel {
  /** 'emotion' | 'gender' | 'age' | 'detector' */
  role: string;
  /** Directory holding model.json and its weights (served read-only to the browser). */
  dir: string;
  /** tfjs format of model.json. */
  format: 'layers-model' | 'graph-model';
  meta?: ModelMeta;
  /** Model card text (README.md / CARD.md in the model directory), when present. */
  card?: string;
  /** Extra facts (architecture, parameter count, metrics) shown to the user. */
  info?: Record<string, unknown>;
}

/** Memory held by a pipeline that runs outside the server's thread (worker pool). */
export interface PipelineMemory {
  tensors: number;
  tensorBytes: number;
  heapUsed: number;
}

export interface ServerPipeline {
  /**
   * Detect faces and classify each one. Must not leak tensors. `signal` (the request's time limit)
   * may cancel the work where the pipeline can (a worker thread is stopped); others ignore it.
   */
  classify(image: RawImage, opts?: ClassifyOptions, signal?: AbortSignal): Promise<ClassifyResult>;
  /** PNG of the image with boxes, labels and probability bars. */
  annotate(image: RawImage, result: ClassifyResult, signal?: AbortSignal): Promise<Buffer>;
  /** PNG with a saliency panel per face; absent until saliency exists. */
  saliency?(image: RawImage, result: ClassifyResult, opts: SaliencyOptions, signal?: AbortSignal): Promise<Buffer>;
  /** Models in use (classifiers and detector) for GET /v1/models and the web page. */
  models(): ServedModel[];
  /** Name of the face detector in use. */
  readonly detectorName: string;
  /** Tensors and heap held elsewhere (worker threads); absent when the pipeline runs in this thread. */
  memory?(): Promise<PipelineMemory>;
  dispose(): Promise<void>;
}
