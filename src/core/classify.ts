/**
 * THE classification step: an image and detector boxes in, FaceResults out. Each classifier gets its
 * crops by the crop rule (./crop.ts), the one preprocessing (src/data/preprocess.ts) and one batched
 * runtime call per image, whose run() applies the model's test-time augmentation (src/runtime/tta.ts);
 * the probabilities become labelled scores (age: years and a range, ./age.ts). Used by FaceClassifier (CLI, server, batch, video,
 * saliency) and the browser package. No Node imports.
 */
import { preprocessBatch, type FaceCrop, type RawImage } from '../data/preprocess.js';
import type { Detection } from '../detect/types.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { toAgeEstimate } from './age.js';
import { modelCrops, type CropRule } from './crop.js';
import { CLASSIFIER_TASKS, type ClassifierTask, type FaceResult, type LabelScores } from './types.js';

/** The classifiers of a pipeline, by task (either may be absent). */
export type Classifiers = Partial<Record<ClassifierTask, InferenceRuntime>>;

/** Runs several runtimes on their batches of the same n faces (src/runtime/group.ts; default: one after the other). */
export interface BatchRunner {
  run(batches: Float32Array[], n: number): Promise<Float32Array[]>;
}

/** What one classifier saw: its crop of each face and the preprocessed batch [n, size, size, channels]. */
export interface TaskInput {
  crops: FaceCrop[];
  batch: Float32Array;
}

export interface ClassifiedFaces {
  faces: FaceResult[];
  /** Per task, the crops and model input of every face (for saliency maps of the same crops). */
  inputs: Partial<Record<ClassifierTask, TaskInput>>;
}

export interface ClassifyStepOptions extends CropRule {
  /** The detections are whole face crops: classify their boxes as given, without the crop rule. */
  asGiven?: boolean;
  /** Runs the batches (default: each runtime's run(), one after the other). */
  runner?: BatchRunner;
}

/** The tasks present, in the fixed order emotion, gender, age. */
export function classifierTasks(models: Classifiers): ClassifierTask[] {
  return CLASSIFIER_TASKS.filter((t) => models[t] !== undefined);
}

/** The inputs of one classifier for the detections: crops by the crop rule, then the one preprocessing. */
export function taskInput(
  img: RawImage,
  dets: ReadonlyArray<Pick<Detection, 'box' | 'keypoints'>>,
  rt: InferenceRuntime,
  opts: ClassifyStepOptions,
): TaskInput {
  const crops = modelCrops(dets, rt.meta, opts, opts.asGiven);
  const batch = preprocessBatch(img, crops, { inputSize: rt.meta.inputSize, channels: rt.meta.channels === 3 ? 3 : 1 });
  return { crops, batch };
}

/**
 * Emotion, gender and age for detections of one image: every face of every task in one batched step.
 * Class tasks give labelled scores; the age model's anchor probabilities give years and a range.
 */
export async function classifyDetections(img: RawImage, dets: readonly Detection[], models: Classifiers, opts: ClassifyStepOptions): Promise<ClassifiedFaces> {
  const tasks = classifierTasks(models);
  const faces = dets.map(toFaceResult);
  if (dets.length === 0 || tasks.length === 0) return { faces, inputs: {} };
  const runtimes = tasks.map((t) => models[t]!);
  const inputs = tasks.map((t, i) => taskInput(img, dets, runtimes[i], opts));
  const batches = inputs.map((x) => x.batch);
  const probs = await (opts.runner ?? sequentialRunner(runtimes)).run(batches, dets.length);
  tasks.forEach((task, ti) => {
    const { meta } = runtimes[ti];
    const k = meta.labels.length;
    faces.forEach((f, i) => {
      const row = probs[ti].subarray(i * k, (i + 1) * k);
      if (task === 'age') f.age = toAgeEstimate(row, meta);
      else f[task] = toLabelScores(meta.labels, row);
    });
  });
  return { faces, inputs: Object.fromEntries(tasks.map((t, i) => [t, inputs[i]])) };
}

function sequentialRunner(runtimes: InferenceRuntime[]): BatchRunner {
  return {
    run: async (batches, n) => {
      const out: Float32Array[] = [];
      for (const [i, rt] of runtimes.entries()) out.push(await rt.run(batches[i], n));
      return out;
    },
  };
}

/** A detection as a result without classes: box, score and keypoints when present. */
export function toFaceResult(d: Pick<Detection, 'box' | 'score' | 'keypoints'>): FaceResult {
  const r: FaceResult = { box: d.box, score: d.score };
  if (d.keypoints) r.keypoints = d.keypoints;
  return r;
}

/** Class probabilities as labelled scores (rounded to 4 decimals), the label being the most probable class. */
export function toLabelScores(labels: readonly string[], probs: ArrayLike<number>): LabelScores {
  let best = 0;
  const scores: Record<string, number> = {};
  labels.forEach((l, i) => {
    scores[l] = Math.round(probs[i] * 10000) / 10000;
    if (probs[i] > probs[best]) best = i;
  });
  return { label: labels[best], scores };
}
