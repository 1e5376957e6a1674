import * as tf from '@tensorflow/tfjs';
import { loadModel, type LoadedModel, type ModelMeta } from '../io/model-store.js';
import type { InferenceRuntime } from './types.js';

/** tfjs runtime over a loaded layers model, on whichever backend is active. */
export class TfjsRuntime implements InferenceRuntime {
  readonly name = 'tfjs' as const;
  readonly meta: ModelMeta;
  readonly model: tf.LayersModel;

  constructor(loaded: Pick<LoadedModel, 'model' | 'meta'>) {
    this.model = loaded.model;
    this.meta = loaded.meta;
  }

  static async load(dir: string): Promise<TfjsRuntime> {
    return new TfjsRuntime(await loadModel(dir));
  }

  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const { inputSize, channels } = this.meta;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`batch size must be a non-negative integer, got ${n}`);
    if (n === 0) return new Float32Array(0);
    const len = n * inputSize * inputSize * channels;
    if (batch.length < len) throw new RangeError(`batch holds ${batch.length} values, ${n} inputs of ${inputSize}x${inputSize}x${channels} need ${len}`);
    const data = batch.length === len ? batch : batch.subarray(0, len);
    const y = tf.tidy(() => this.model.predict(tf.tensor4d(data, [n, inputSize, inputSize, channels])) as tf.Tensor);
    try {
      return (await y.data()) as Float32Array;
    } finally {
      y.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
