/**
 * FaceClassifier: detect every face of an image, crop each one (the crop rule src/data/preprocess.ts
 * faceCrop: square box grown by the tuned margin, eyes levelled; preprocessBatch) and run all faces of the image through the
 * emotion, gender and age models in one batched step (src/runtime/group.ts: with onnxruntime the faces
 * are shared between the calling thread and `classifierWorkers` worker threads).
 *
 *   const fc = await FaceClassifier.load();
 *   const faces = await fc.classify('photo.jpg'); // [{ box, score, emotion: {label, scores}, gender: {...}, age: {years, range} }]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage, type DecodeOptions } from '../data/decode.js';
import { projectRoot } from '../data/paths.js';
import type { Box, FaceCrop, RawImage } from '../data/preprocess.js';
import { setupBackend } from '../engine/backend.js';
import { UserError } from '../errors.js';
import { createDetector, DEFAULT_DETECTOR, type Detection, type Detector, type DetectorName, type TileMode } from '../detect/index.js';
import { classifierTasks, classifyDetections, toFaceResult, type ClassifiedFaces } from '../core/classify.js';
import { cropMarginFor, DEFAULT_ALIGN, detectorCropBox, modelCrops, type CropRule } from '../core/crop.js';
import { CLASSIFIER_TASKS, type ClassifierTask } from '../core/types.js';
import { MODEL_JSON } from '../io/fs-handler.js';
import { shippedModelName, type ModelVariant } from '../io/model-store.js';
import { createRuntime } from '../runtime/factory.js';
import { createRuntimeGroup, type RuntimeGroup } from '../runtime/group.js';
import type { Tta } from '../runtime/tta.js';
import type { InferenceRuntime, RuntimeName } from '../runtime/types.js';
import type { FaceResult, StageTimes } from './types.js';
import { locateFaceInCrop, wholeBox, type CropFraming } from './crop-framing.js';

/**
 * `classify --crops` framing default, chosen on validation (README, "Faces from other sources"): the face
 * found in the crop, framed by the crop rule (RAF-DB validation 63.57% as cut / 62.84% re-cut, against
 * 63.90% / 59.33% for the crop as given): about as good on crops cut like the training data, much better
 * on crops cut otherwise.
 */
export const DEFAULT_CROP_FRAMING: CropFraming = 'detect';

export { DEFAULT_ALIGN, DEFAULT_CROP_MARGIN, DETECTOR_BOX_SCALE, detectorCropBox, detectorMargin } from '../core/crop.js';
export { toLabelScores } from '../core/classify.js';

export type { ModelVariant };

/**
 * The shipped model of a task: models/<task> (the fast default), or for 'accurate' models/<task>-accurate
 * when the project ships one (an ensemble that beat the fast model on validation), else the fast one.
 */
export function defaultModelDir(task: ClassifierTask, variant: ModelVariant = 'fast'): string {
  const fast = path.join(projectRoot(), 'models', shippedModelName(task, 'fast'));
  if (variant === 'fast') return fast;
  const accurate = path.join(projectRoot(), 'models', shippedModelName(task, 'accurate'));
  return fs.existsSync(path.join(accurate, MODEL_JSON)) ? accurate : fast;
}

/**
 * The model directory of every task the options want: the given one, else the shipped default of the
 * variant. The age task is on by default where the project ships an age model; a missing model of a
 * task asked for (by default or by name) is an error.
 */
function modelDirs(opts: FaceClassifierOptions): Partial<Record<ClassifierTask, string>> {
  const given: Record<ClassifierTask, string | undefined> = { emotion: opts.emotionModel, gender: opts.genderModel, age: opts.ageModel };
  const dirs: Partial<Record<ClassifierTask, string>> = {};
  for (const task of CLASSIFIER_TASKS) {
    if (opts[task] === false) continue;
    const dir = given[task] ?? defaultModelDir(task, opts.variant);
    if (!fs.existsSync(dir)) throw new UserError(`no ${task} model at "${dir}"`, { reason: `${task}-model-missing` });
    dirs[task] = dir;
  }
  return dirs;
}

export interface FaceClassifierOptions {
  /** Detector name or instance. Default: blazeface. */
  detector?: DetectorName | Detector;
  /** Model directories (model.json + weights.bin). Default models/emotion, models/gender and models/age of the project. */
  emotionModel?: string;
  genderModel?: string;
  ageModel?: string;
  /** Default models: 'fast' (models/<task>) or 'accurate' (models/<task>-accurate where shipped). */
  variant?: ModelVariant;
  /** Set false to skip a task (all false: detection only, `classify` returns boxes, scores and keypoints). */
  emotion?: boolean;
  gender?: boolean;
  age?: boolean;
  /** Inference runtime for the classifiers: onnx (default in Node, env FACECLS_RUNTIME) or tfjs. */
  runtime?: RuntimeName | string;
  /** tfjs backend (wasm default, cpu). */
  backend?: string;
  /**
   * Test-time augmentation of the classifiers: default each model's own (flip for the shipped ones:
   * twice the classifier work, the accuracy their cards state); 'none' for one pass per face.
   */
  tta?: Tta;
  /** Margin around the detector box (per side, fraction of the box); overrides the model card's. */
  cropMargin?: number;
  /**
   * Level each face's eyes (from the detector's keypoints) before classifying; detectors without
   * keypoints (Haar) classify the upright box. Default DEFAULT_ALIGN.
   */
  align?: boolean;
  /**
   * Inputs that are face crops (`classify --crops`): 'whole' classifies the crop as given; 'detect'
   * finds the face in it and frames it by the same crop rule as a detected face (src/pipeline/crop-framing.ts).
   */
  cropFraming?: CropFraming;
  minFaceSize?: number;
  scoreThreshold?: number;
  /** Detector tiles for small faces: 'auto' (default), true (always), false (never). */
  tiles?: TileMode;
  maxFaces?: number;
  /** Passed to decodeImage (pixel limit against decompression bombs). */
  maxPixels?: number;
  /** Largest image file read from a path, in bytes, checked before reading (default MAX_INPUT_BYTES, 256 MiB). */
  maxBytes?: number;
  /** Read paths that are not regular files (FIFOs, devices); default false: refused. */
  allowSpecialFiles?: boolean;
  /**
   * Worker threads sharing the batched emotion + gender + age step with the calling thread (onnx runtime).
   * Default: env FACECLS_ORT_WORKERS, else cores - 1. Use 0 where the caller already runs one
   * pipeline per core (the server's worker pool does).
   */
  classifierWorkers?: number;
}

export interface ClassifyOptions {
  /** The input is already a face crop: skip detection, classify the whole image. */
  crop?: boolean;
  /** Detection only: boxes, scores and keypoints, no classes or age (also when no classifier is loaded). */
  detectOnly?: boolean;
  /**
   * Run only these of the loaded tasks (default all): a per-request subset (the server's `age=false`);
   * a subset runs its models one after the other on the calling thread.
   */
  tasks?: readonly ClassifierTask[];
  /** Name used in error messages for buffer inputs. */
  name?: string;
}

export type ImageInput = string | Buffer | Uint8Array | RawImage;

function isRawImage(x: ImageInput): x is RawImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x;
}

export class FaceClassifier {
  private constructor(
    readonly detector: Detector,
    readonly emotion: InferenceRuntime | undefined,
    readonly gender: InferenceRuntime | undefined,
    readonly age: InferenceRuntime | undefined,
    private readonly opts: FaceClassifierOptions,
    private readonly ownsDetector: boolean,
    /** The batched emotion + gender + age step (runtimes in the order emotion, gender, age, when loaded). */
    readonly group: RuntimeGroup,
    /** Model directories of the loaded tasks. */
    readonly dirs: Partial<Record<ClassifierTask, string>>,
  ) {}

  static async load(opts: FaceClassifierOptions = {}): Promise<FaceClassifier> {
    await setupBackend(opts.backend);
    const dirs = modelDirs(opts);
    const runtimeOptions = { runtime: opts.runtime, backend: opts.backend, tta: opts.tta };
    const loaded: Partial<Record<ClassifierTask, InferenceRuntime>> = {};
    for (const task of CLASSIFIER_TASKS) if (dirs[task]) loaded[task] = await createRuntime(dirs[task], runtimeOptions);
    const ownsDetector = typeof opts.detector !== 'object';
    const detector = typeof opts.detector === 'object' ? opts.detector : await createDetector(opts.detector ?? DEFAULT_DETECTOR);
    const runtimes = CLASSIFIER_TASKS.flatMap((t) => (loaded[t] ? [loaded[t]] : []));
    const group = createRuntimeGroup(runtimes, { workers: opts.classifierWorkers });
    return new FaceClassifier(detector, loaded.emotion, loaded.gender, loaded.age, opts, ownsDetector, group, dirs);
  }

  /** The crop rule of this classifier: its detector, alignment and margin override. */
  get cropRule(): CropRule {
    return { detector: this.detector.name, align: this.opts.align ?? DEFAULT_ALIGN, cropMargin: this.opts.cropMargin };
  }

  /** The crop a classifier (runtime `rt`) sees for a detector box, without the eye levelling. */
  cropBox(box: Box, rt?: InferenceRuntime): Box {
    return detectorCropBox(box, this.detector.name, this.cropMargin(rt));
  }

  /** Margin around this detector's boxes for a model: the option if given, else from the model card. */
  cropMargin(rt?: InferenceRuntime): number {
    return cropMarginFor(rt?.meta, this.cropRule);
  }

  /** The crops the `task` classifier sees for faces (detections or results) of an image: the core's crop rule. */
  crops(faces: ReadonlyArray<Pick<Detection, 'box' | 'keypoints'>>, task: ClassifierTask, asGiven = false): FaceCrop[] {
    return modelCrops(faces, this[task]?.meta, this.cropRule, asGiven);
  }

  async decode(input: ImageInput, name?: string): Promise<RawImage> {
    if (isRawImage(input)) return input;
    const opts: DecodeOptions = { maxPixels: this.opts.maxPixels, maxBytes: this.opts.maxBytes, allowSpecialFiles: this.opts.allowSpecialFiles, name };
    return decodeImage(input, opts);
  }

  /** Every face of an image (path, encoded buffer or RawImage); an image without faces gives []. */
  async classify(input: ImageInput, opts: ClassifyOptions = {}): Promise<FaceResult[]> {
    return (await this.classifyTimed(input, opts)).faces;
  }

  /**
   * classify plus the image size, time spent per stage and, for a face crop in which no face was
   * found, `asGiven`: the whole image is the face, classified as given (findFaces).
   */
  async classifyTimed(
    input: ImageInput,
    opts: ClassifyOptions = {},
  ): Promise<{ faces: FaceResult[]; width: number; height: number; times: StageTimes; asGiven: boolean }> {
    const t0 = performance.now();
    const img = await this.decode(input, opts.name);
    const t1 = performance.now();
    const { dets, asGiven } = await this.findFaces(img, opts.crop === true);
    const t2 = performance.now();
    const faces = opts.detectOnly || this.group.runtimes.length === 0 ? dets.map(toFaceResult) : await this.classifyBoxes(img, dets, asGiven, opts.tasks);
    const t3 = performance.now();
    return { faces, width: img.width, height: img.height, times: { decode: t1 - t0, detect: t2 - t1, classify: t3 - t2 }, asGiven };
  }

  /**
   * The faces of a decoded image: the detector's, or for a face crop (`crop`) the face found in it
   * (framing 'detect') or, without one, the whole crop used as given (`asGiven`).
   */
  async findFaces(img: RawImage, crop = false): Promise<{ dets: Detection[]; asGiven: boolean }> {
    if (!crop) {
      const dets = await this.detector.detect(img, {
        minFaceSize: this.opts.minFaceSize,
        scoreThreshold: this.opts.scoreThreshold,
        maxFaces: this.opts.maxFaces,
        tiles: this.opts.tiles,
      });
      return { dets, asGiven: false };
    }
    const found =
      (this.opts.cropFraming ?? DEFAULT_CROP_FRAMING) === 'detect' ? await locateFaceInCrop(this.detector, img, this.opts.scoreThreshold) : undefined;
    return found ? { dets: [found], asGiven: false } : { dets: [{ box: wholeBox(img), score: 1 }], asGiven: true };
  }

  /** Faces of an image (path, encoded buffer or RawImage) without classes or age: boxes, scores, keypoints. */
  async detect(input: ImageInput, opts: Omit<ClassifyOptions, 'detectOnly' | 'crop'> = {}): Promise<FaceResult[]> {
    return (await this.classifyTimed(input, { ...opts, detectOnly: true })).faces;
  }

  /** Emotion, gender and age for given detections of one image, all faces in one batched step. */
  async classifyBoxes(img: RawImage, dets: Detection[], crop = false, tasks?: readonly ClassifierTask[]): Promise<FaceResult[]> {
    return (await this.classifyDetections(img, dets, crop, tasks)).faces;
  }

  /**
   * classifyBoxes plus what each classifier saw (crops and model input), for saliency of the same crops.
   * `tasks` (default all loaded) narrows the step to some of them.
   */
  classifyDetections(img: RawImage, dets: Detection[], asGiven = false, tasks?: readonly ClassifierTask[]): Promise<ClassifiedFaces> {
    const all = { emotion: this.emotion, gender: this.gender, age: this.age };
    const models = tasks ? Object.fromEntries(tasks.map((t) => [t, all[t]])) : all;
    const whole = classifierTasks(models).length === this.group.runtimes.length;
    return classifyDetections(img, dets, models, { ...this.cropRule, asGiven, runner: whole ? this.group : undefined });
  }

  async dispose(): Promise<void> {
    await this.group.dispose();
    await Promise.all([this.emotion?.dispose(), this.gender?.dispose(), this.age?.dispose()]);
    if (this.ownsDetector) this.detector.dispose();
  }
}
