/**
 * Model metadata (stored in model.json's user-defined metadata under "facecls") and how it is read
 * from a loaded tfjs layers model. No Node imports: the browser package reads models with it too.
 */
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';

/** Key of the facecls metadata in model.json's userDefinedMetadata. */
export const META_KEY = 'facecls';

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

/** Infer metadata for a plain tfjs model without facecls metadata. */
function defaultMeta(model: tf.LayersModel): ModelMeta {
  const shape = model.inputs[0].shape;
  const out = model.outputs[0].shape;
  const classes = Number(out[out.length - 1]);
  const task: Task = classes === 7 ? 'emotion' : classes === 2 ? 'gender' : 'custom';
  const labels = task === 'emotion' ? [...EMOTION_LABELS] : task === 'gender' ? [...GENDER_LABELS] : Array.from({ length: classes }, (_, i) => `class${i}`);
  return {
    task,
    labels,
    inputSize: Number(shape[1]),
    channels: Number(shape[3]),
    preprocessing: { colorSpace: Number(shape[3]) === 1 ? 'grey' : 'rgb', range: [-1, 1] },
  };
}

/** A loaded model's metadata: the stored facecls metadata over defaults from its shapes; `name` names it in errors. */
export function modelMeta(model: tf.LayersModel, name = `model "${model.name}"`): ModelMeta {
  const stored = (model.getUserDefinedMetadata() as Record<string, unknown> | undefined)?.[META_KEY] as ModelMeta | undefined;
  const meta = { ...defaultMeta(model), ...(stored ?? {}) };
  const outClasses = Number(model.outputs[0].shape[model.outputs[0].shape.length - 1]);
  if (meta.labels.length !== outClasses) throw new UserError(`${name} has ${outClasses} outputs but its metadata lists ${meta.labels.length} labels`);
  return meta;
}
