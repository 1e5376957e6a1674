/**
 * Saving and loading facecls models: a directory with tfjs-layers artifacts
 * (model.json + weights.bin) whose metadata says what the model is for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError, errorMessage } from '../errors.js';
import { flushDenormals } from './denormals.js';
import { META_KEY, modelMeta, type ModelMeta } from './model-meta.js';
import { fileSystem, MODEL_JSON, modelDir } from './fs-handler.js';

export { EMOTION_LABELS, GENDER_LABELS, shippedModelName, type ModelMeta, type ModelVariant, type Task } from './model-meta.js';

export interface LoadedModel {
  model: tf.LayersModel;
  meta: ModelMeta;
  dir: string;
}

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
  try {
    return { model, meta: modelMeta(model, `model "${pathOrUrl}"`), dir };
  } catch (err) {
    model.dispose();
    throw err;
  }
}
