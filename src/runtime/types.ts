/**
 * Contract for running a classifier on preprocessed batches. Implementations: tfjs (browser and
 * fallback, ./tfjs.ts) and onnxruntime-node (fast path in Node). Pipeline, CLI and server use this.
 */
import type { ModelMeta } from '../io/model-meta.js';
import type { Tta } from './tta.js';

export type RuntimeName = 'tfjs' | 'onnx';

export interface InferenceRuntime {
  readonly name: RuntimeName;
  readonly meta: ModelMeta;
  /** Test-time augmentation run() applies (src/runtime/tta.ts): 'flip' averages each face with its mirror. */
  readonly tta: Tta;
  /**
   * Class probabilities for n preprocessed inputs laid out [n, size, size, channels]
   * (from preprocessFace/preprocessBatch). Returns [n, classes] row-major.
   * A longer buffer is fine (the first n inputs are used); a shorter one or a bad n is a RangeError.
   */
  run(batch: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}
