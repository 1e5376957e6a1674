/**
 * The tfjs runtime over a loaded layers model, on whichever backend is active: Node (TfjsRuntime,
 * ./tfjs.ts, adds loading from a directory) and the browser package. No Node imports.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../io/model-meta.js';
import { averageMirrors, resolveTta, withMirrors, type Tta } from './tta.js';
import type { InferenceRuntime } from './types.js';

export class LayersRuntime implements InferenceRuntime {
  readonly name = 'tfjs' as const;
  readonly meta: ModelMeta;
  readonly model: tf.LayersModel;
  readonly tta: Tta;

  /** tta: the test-time augmentation to apply (default: the model metadata's). */
  constructor(loaded: { model: tf.LayersModel; meta: ModelMeta }, tta?: Tta) {
    this.model = loaded.model;
    this.meta = loaded.meta;
    this.tta = resolveTta(tta, loaded.meta);
  }

  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const { inputSize, channels } = this.meta;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`batch size must be a non-negative integer, got ${n}`);
    if (n === 0) return new Float32Array(0);
    const len = n * inputSize * inputSize * channels;
    if (batch.length < len) throw new RangeError(`batch holds ${batch.length} values, ${n} inputs of ${inputSize}x${inputSize}x${channels} need ${len}`);
    const flip = this.tta === 'flip';
    const data = flip ? withMirrors(batch, n, inputSize, channels) : batch.length === len ? batch : batch.subarray(0, len);
    const rows = flip ? 2 * n : n;
    const y = tf.tidy(() => this.model.predict(tf.tensor4d(data, [rows, inputSize, inputSize, channels])) as tf.Tensor);
    try {
      const out = (await y.data()) as Float32Array;
      return flip ? averageMirrors(out, n, this.meta.labels.length) : out;
    } finally {
      y.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
