/**
 * Saving and loading facecls models: a directory with tfjs-layers artifacts
 * (model.json + weights.bin) whose metadata says what the model is for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError, errorMessage } from '../errors.js';
import { flushDenormals } from './denormals.js';
import { fileSystem, MODEL_JSON, modelDir } from './fs-handler.js';

export type Task = 'emotion' | 'gender' | 'age' | 'custom';

export const EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export const GENDER_LABELS = ['woman', 'man'] as const;

export interface ModelMeta {
  task: Task;
  labels: string[];
  arch?: string;
  inputSize: number;
  channels: number;
  /** Input scaling the model was trained with; every path uses src/data/preprocess. */
  preprocessing: { colorSpace: 'grey' | 'rgb'; range: [number, number] };
  /** Relative margin added around the detector box before cropping, when known. */
  cropMargin?: number;
  /** Test-time augmentation every runtime applies to this model (src/runtime/tta.ts); default none. */
  tta?: 'none' | 'flip';
  [key: string]: unknown;
}

/** The shipped models of a task: 'fast' (the pipeline's default) and 'accurate' (--accurate, where shipped). */
export type ModelVariant = 'fast' | 'accurate';

/** Folder name of a shipped model under models/: `<task>` for the fast model, `<task>-accurate` for the accurate one. */
export function shippedModelName(task: string, variant: ModelVariant): string {
  return variant === 'fast' ? task : `${task}-accurate`;
}

export interface LoadedModel {
  model: tf.LayersModel;
  meta: ModelMeta;
  dir: string;
}

const META_KEY = 'facecls';

export async function saveModel(model: tf.LayersModel, dir: string, meta: ModelMeta): Promise<void> {
  model.setUserDefinedMetadata({ [META_KEY]: meta });
  const target = fileSystem(dir);
  await model.save({
    save: (artifacts) => {
      // Flush denormal float32 weights (io/denormals.ts) in the bytes written, not in the live model.
      if (artifacts.weightData && artifacts.weightSpecs) {
        const data = tf.io.concatenateArrayBuffers(Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData]).slice(0);
        let offset = 0;
        for (const spec of artifacts.weightSpecs) {
          const size = spec.shape.reduce((a, b) => a * b, 1);
          if (spec.dtype === 'float32' && !spec.quantization) flushDenormals(new Float32Array(data, offset, size));
          offset += size * (spec.quantization ? (spec.quantization.dtype === 'uint8' ? 1 : 2) : 4);
        }
        artifacts = { ...artifacts, weightData: data };
      }
      return target.save!(artifacts);
    },
  });
}

/** Infer metadata for a plain tfjs model without facecls metadata. */
function defaultMeta(model: tf.LayersModel): ModelMeta {
  const shape = model.inputs[0].shape;
  const out = model.outputs[0].shape;
  const classes = Number(out[out.length - 1]);
  const task: Task = classes === 7 ? 'emotion' : classes === 2 ? 'gender' : 'custom';
  const labels =
    task === 'emotion' ? [...EMOTION_LABELS] : task === 'gender' ? [...GENDER_LABELS] : Array.from({ length: classes }, (_, i) => `class${i}`);
  return {
    task,
    labels,
    inputSize: Number(shape[1]),
    channels: Number(shape[3]),
    preprocessing: { colorSpace: Number(shape[3]) === 1 ? 'grey' : 'rgb', range: [-1, 1] },
  };
}

export async function loadModel(pathOrUrl: string): Promise<LoadedModel> {
  const dir = modelDir(pathOrUrl);
  if (!fs.existsSync(dir)) throw new UserError(`model "${pathOrUrl}" does not exist`);
  if (!fs.existsSync(path.join(dir, MODEL_JSON))) throw new UserError(`model "${pathOrUrl}" has no ${MODEL_JSON}`);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(fileSystem(dir));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot load model "${pathOrUrl}": ${errorMessage(err)}`, { cause: err });
  }
  const stored = (model.getUserDefinedMetadata() as Record<string, unknown> | undefined)?.[META_KEY] as ModelMeta | undefined;
  const meta = { ...defaultMeta(model), ...(stored ?? {}) };
  const outClasses = Number(model.outputs[0].shape[model.outputs[0].shape.length - 1]);
  if (meta.labels.length !== outClasses) {
    model.dispose();
    throw new UserError(`model "${pathOrUrl}" has ${outClasses} outputs but its metadata lists ${meta.labels.length} labels`);
  }
  return { model, meta, dir };
}
