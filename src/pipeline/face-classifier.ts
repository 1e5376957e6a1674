/**
 * FaceClassifier: detect every face of an image, crop each one (the crop rule src/data/preprocess.ts
 * faceCrop: square box grown by the tuned margin, eyes levelled; preprocessBatch) and run all faces of the image through the
 * emotion and the gender model in one batched step (src/runtime/group.ts: with onnxruntime the faces
 * are shared between the calling thread and `classifierWorkers` worker threads).
 *
 *   const fc = await FaceClassifier.load();
 *   const faces = await fc.classify('photo.jpg'); // [{ box, score, emotion: {label, scores}, gender: {...} }]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage, type DecodeOptions } from '../data/decode.js';
import { projectRoot } from '../data/paths.js';
import { faceCrop, preprocessBatch, squareBox, type Box, type RawImage } from '../data/preprocess.js';
import { setupBackend } from '../engine/backend.js';
import { UserError } from '../errors.js';
import { createDetector, DEFAULT_DETECTOR, DETECTOR_FRAMING, type Detection, type Detector, type DetectorName, type TileMode } from '../detect/index.js';
import { MODEL_JSON } from '../io/fs-handler.js';
import { shippedModelName, type ModelVariant } from '../io/model-store.js';
import { createRuntime } from '../runtime/factory.js';
import { createRuntimeGroup, type RuntimeGroup } from '../runtime/group.js';
import type { Tta } from '../runtime/tta.js';
import type { InferenceRuntime, RuntimeName } from '../runtime/types.js';
import type { FaceResult, LabelScores, StageTimes } from './types.js';
import { locateFaceInCrop, wholeBox, type CropFraming } from './crop-framing.js';

/**
 * Face alignment default: level the eyes (BlazeFace keypoints) before classifying. Chosen on validation
 * (README, "Faces from other sources"): with faces tilted up to 25 degrees, see DEFAULT_ALIGN's figures there.
 */
export const DEFAULT_ALIGN = true;
/**
 * `classify --crops` framing default, chosen on validation (README, "Faces from other sources"): the face
 * found in the crop, framed by the crop rule (RAF-DB validation 63.57% as cut / 62.84% re-cut, against
 * 63.90% / 59.33% for the crop as given): about as good on crops cut like the training data, much better
 * on crops cut otherwise.
 */
export const DEFAULT_CROP_FRAMING: CropFraming = 'detect';

/**
 * Crop margins. A model's card states `cropMargin`: the margin (fraction of the face side, per side)
 * around the face square its training crops had, the face square being an aligned UTKFace chip
 * (0 = chip framing, which FER-2013 and UTKFace-trained models see). Detectors frame faces
 * differently, so the margin applied to a detector box is converted with the detector's measured
 * box size relative to that face square (DETECTOR_FRAMING, medians over composed UTKFace frames:
 * BlazeFace boxes, extended to the forehead, are 1.05 of the chip side, the Haar cascade's 1.03), and
 * the crop is centred where that framing puts the chip's centre. A model without `cropMargin` gets 0
 * (chip framing).
 * Tuning (bench/tune-margin.ts, UTKFace validation adults; see docs/pipeline.md): the paper's imported
 * Keras gender model is most accurate around a margin of 0.3, i.e. 0.38 on BlazeFace boxes.
 */
export const DETECTOR_BOX_SCALE: Record<DetectorName, number> = { blazeface: DETECTOR_FRAMING.blazeface.scale, haar: DETECTOR_FRAMING.haar.scale };

/**
 * The crop rule: the square a classifier sees around a detector's box, `margin` being the margin
 * around that box (detectorMargin: the model's margin converted to the detector's framing), centred
 * where the detector's framing puts the face chip's centre (DETECTOR_FRAMING shift).
 */
export function detectorCropBox(box: Box, detector: DetectorName, margin: number): Box {
  return squareBox(box, margin, DETECTOR_FRAMING[detector].shift);
}

/** Margin around a detector's box that yields a crop with `modelMargin` around the face square. */
export function detectorMargin(detector: DetectorName, modelMargin = 0): number {
  return Math.round((((1 + 2 * modelMargin) / DETECTOR_BOX_SCALE[detector] - 1) / 2) * 1000) / 1000;
}

/** Margins for a model without `cropMargin` (chip framing): BlazeFace -0.024, Haar -0.015. */
export const DEFAULT_CROP_MARGIN: Record<DetectorName, number> = { blazeface: detectorMargin('blazeface'), haar: detectorMargin('haar') };

export type { ModelVariant };

/**
 * The shipped model of a task: models/<task> (the fast default), or for 'accurate' models/<task>-accurate
 * when the project ships one (an ensemble that beat the fast model on validation), else the fast one.
 */
export function defaultModelDir(task: 'emotion' | 'gender', variant: ModelVariant = 'fast'): string {
  const fast = path.join(projectRoot(), 'models', shippedModelName(task, 'fast'));
  if (variant === 'fast') return fast;
  const accurate = path.join(projectRoot(), 'models', shippedModelName(task, 'accurate'));
  return fs.existsSync(path.join(accurate, MODEL_JSON)) ? accurate : fast;
}

export interface FaceClassifierOptions {
  /** Detector name or instance. Default: blazeface. */
  detector?: DetectorName | Detector;
  /** Model directories (model.json + weights.bin). Default models/emotion and models/gender of the project. */
  emotionModel?: string;
  genderModel?: string;
  /** Default models: 'fast' (models/<task>) or 'accurate' (models/<task>-accurate where shipped). */
  variant?: ModelVariant;
  /** Set false to skip a task (both false: detection only, `classify` returns boxes, scores and keypoints). */
  emotion?: boolean;
  gender?: boolean;
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
   * Worker threads sharing the batched emotion + gender step with the calling thread (onnx runtime).
   * Default: env FACECLS_ORT_WORKERS, else cores - 1. Use 0 where the caller already runs one
   * pipeline per core (the server's worker pool does).
   */
  classifierWorkers?: number;
}

export interface ClassifyOptions {
  /** The input is already a face crop: skip detection, classify the whole image. */
  crop?: boolean;
  /** Detection only: boxes, scores and keypoints, no emotion or gender (also when neither model is loaded). */
  detectOnly?: boolean;
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
    private readonly opts: FaceClassifierOptions,
    private readonly ownsDetector: boolean,
    /** The batched emotion + gender step (runtimes in the order emotion, gender, when loaded). */
    readonly group: RuntimeGroup,
    /** Model directories of the loaded tasks. */
    readonly dirs: { emotion?: string; gender?: string },
  ) {}

  static async load(opts: FaceClassifierOptions = {}): Promise<FaceClassifier> {
    await setupBackend(opts.backend);
    const wantEmotion = opts.emotion !== false;
    const wantGender = opts.gender !== false;
    const emotionDir = opts.emotionModel ?? defaultModelDir('emotion', opts.variant);
    const genderDir = opts.genderModel ?? defaultModelDir('gender', opts.variant);
    for (const [want, dir, task, flag] of [
      [wantEmotion, emotionDir, 'emotion', '--emotion-model'],
      [wantGender, genderDir, 'gender', '--gender-model'],
    ] as const) {
      if (want && !fs.existsSync(dir)) {
        throw new UserError(`no ${task} model at "${dir}": train one or pass ${flag} <dir> (or disable the task with --no-${task})`);
      }
    }
    const runtimeOptions = { runtime: opts.runtime, backend: opts.backend, tta: opts.tta };
    const emotion = wantEmotion ? await createRuntime(emotionDir, runtimeOptions) : undefined;
    const gender = wantGender ? await createRuntime(genderDir, runtimeOptions) : undefined;
    const ownsDetector = typeof opts.detector !== 'object';
    const detector = typeof opts.detector === 'object' ? opts.detector : await createDetector(opts.detector ?? DEFAULT_DETECTOR);
    const runtimes = [emotion, gender].filter((r): r is InferenceRuntime => r !== undefined);
    const group = createRuntimeGroup(runtimes, { workers: opts.classifierWorkers });
    const dirs = { ...(emotion ? { emotion: emotionDir } : {}), ...(gender ? { gender: genderDir } : {}) };
    return new FaceClassifier(detector, emotion, gender, opts, ownsDetector, group, dirs);
  }

  /** The crop a classifier (runtime `rt`) sees for a detector box: the crop rule with this classifier's margin. */
  cropBox(box: Box, rt?: InferenceRuntime): Box {
    return detectorCropBox(box, this.detector.name, this.cropMargin(rt));
  }

  /** Margin around this detector's boxes for a model: the option if given, else from the model card. */
  cropMargin(rt?: InferenceRuntime): number {
    if (this.opts.cropMargin !== undefined) return this.opts.cropMargin;
    const fromCard = rt?.meta.cropMargin;
    return detectorMargin(this.detector.name, typeof fromCard === 'number' && Number.isFinite(fromCard) ? fromCard : 0);
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

  /** classify plus the image size and time spent per stage. */
  async classifyTimed(input: ImageInput, opts: ClassifyOptions = {}): Promise<{ faces: FaceResult[]; width: number; height: number; times: StageTimes }> {
    const t0 = performance.now();
    const img = await this.decode(input, opts.name);
    const t1 = performance.now();
    let dets: Detection[];
    let asGiven = false;
    if (opts.crop) {
      const found = (this.opts.cropFraming ?? DEFAULT_CROP_FRAMING) === 'detect' ? await locateFaceInCrop(this.detector, img, this.opts.scoreThreshold) : undefined;
      // Without a face found (or with framing 'whole') the crop itself is the face, used as given.
      asGiven = !found;
      dets = [found ?? { box: wholeBox(img), score: 1 }];
    } else {
      dets = await this.detector.detect(img, { minFaceSize: this.opts.minFaceSize, scoreThreshold: this.opts.scoreThreshold, maxFaces: this.opts.maxFaces, tiles: this.opts.tiles });
    }
    const t2 = performance.now();
    const faces = opts.detectOnly || this.group.runtimes.length === 0 ? dets.map(toFaceResult) : await this.classifyBoxes(img, dets, asGiven);
    const t3 = performance.now();
    return { faces, width: img.width, height: img.height, times: { decode: t1 - t0, detect: t2 - t1, classify: t3 - t2 } };
  }

  /** Faces of an image (path, encoded buffer or RawImage) without emotion or gender: boxes, scores, keypoints. */
  async detect(input: ImageInput, opts: Omit<ClassifyOptions, 'detectOnly' | 'crop'> = {}): Promise<FaceResult[]> {
    return (await this.classifyTimed(input, { ...opts, detectOnly: true })).faces;
  }

  /** Emotion and gender for given detections of one image, all faces in one batched step. */
  async classifyBoxes(img: RawImage, dets: Detection[], crop = false): Promise<FaceResult[]> {
    if (dets.length === 0) return [];
    const rts = this.group.runtimes;
    const align = this.opts.align ?? DEFAULT_ALIGN;
    const batches = rts.map((rt) => {
      const margin = this.cropMargin(rt);
      const shift = DETECTOR_FRAMING[this.detector.name].shift;
      const crops = dets.map((d) => (crop ? { box: d.box } : faceCrop(d, margin, align, shift)));
      return preprocessBatch(img, crops, { inputSize: rt.meta.inputSize, channels: rt.meta.channels === 3 ? 3 : 1 });
    });
    const probs = await this.group.run(batches, dets.length);
    const scores = (rt: InferenceRuntime | undefined) => {
      if (!rt) return undefined;
      const p = probs[rts.indexOf(rt)];
      const k = rt.meta.labels.length;
      return dets.map((_, i) => toLabelScores(rt.meta.labels, p.subarray(i * k, (i + 1) * k)));
    };
    const [emo, gen] = [scores(this.emotion), scores(this.gender)];
    return dets.map((d, i) => {
      const r = toFaceResult(d);
      if (emo) r.emotion = emo[i];
      if (gen) r.gender = gen[i];
      return r;
    });
  }

  async dispose(): Promise<void> {
    await this.group.dispose();
    await Promise.all([this.emotion?.dispose(), this.gender?.dispose()]);
    if (this.ownsDetector) this.detector.dispose();
  }
}

function toFaceResult(d: Detection): FaceResult {
  const r: FaceResult = { box: d.box, score: d.score };
  if (d.keypoints) r.keypoints = d.keypoints;
  return r;
}

export function toLabelScores(labels: readonly string[], probs: ArrayLike<number>): LabelScores {
  let best = 0;
  const scores: Record<string, number> = {};
  labels.forEach((l, i) => {
    scores[l] = Math.round(probs[i] * 10000) / 10000;
    if (probs[i] > probs[best]) best = i;
  });
  return { label: labels[best], scores };
}
