/**
 * Contract between the training engine (src/engine) and the training pipeline (src/train).
 * The pipeline feeds preprocessed, augmented batches; the engine computes gradients (wasm kernels,
 * optionally data-parallel over worker_threads) and applies the optimizer.
 */
import type { BackendName } from './backend.js';

export interface OptimizerConfig {
  name: 'adam';
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface TrainerConfig {
  /** tfjs-layers topology: `JSON.parse(JSON.stringify(model.toJSON(null, false)))` */
  modelTopology: object;
  /** Initial values of `model.weights` in order (trainable and non-trainable, e.g. BN moving stats). */
  weights: Float32Array[];
  optimizer: OptimizerConfig;
  /** Worker threads; 0 trains on the calling thread. Default: one per core. */
  workers?: number;
  backend?: BackendName;
}

export interface StepResult {
  /** Mean cross-entropy of the batch against the given (possibly smoothed) targets. */
  loss: number;
  /** Regularisation term added to the loss for the gradient (L2 on kernels). */
  regularizationLoss: number;
  /** Fraction of the batch whose arg-max prediction equals the target's arg-max. */
  accuracy: number;
}

export interface OptimizerState {
  iterations: number;
  /** Adam slot variables in a stable order (first and second moments per trainable weight). */
  slots: Float32Array[];
}

export interface Trainer {
  readonly workers: number;
  /** One optimizer step on a batch. x: [n, H, W, C] float32, y: [n, classes] target probabilities. */
  trainStep(x: Float32Array, y: Float32Array, n: number): Promise<StepResult>;
  setLearningRate(lr: number): void;
  getLearningRate(): number;
  /** Current weights in `model.weights` order. */
  getWeights(): Promise<Float32Array[]>;
  getOptimizerState(): Promise<OptimizerState>;
  setOptimizerState(state: OptimizerState): Promise<void>;
  /** Optional: tf.memory() of each replica (the calling thread, or each worker), for leak checks. */
  memory?(): Promise<Array<{ numTensors: number; numBytes: number }>>;
  dispose(): Promise<void>;
}
