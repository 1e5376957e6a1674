/**
 * In-process Trainer: tf.variableGrads + Adam on the active tfjs backend, on the calling thread.
 * The training engine (src/engine createTrainer) provides the data-parallel Trainer used with
 * `--workers N >= 1`; this one serves `--workers 0` (single thread, no worker start-up cost: tiny
 * models, tests) and is the reference the pipeline was developed against.
 */
import * as tf from '@tensorflow/tfjs';
import type { OptimizerState, StepResult, Trainer, TrainerConfig } from '../engine/trainer-types.js';
// Registers the gradient kernels the wasm backend lacks (training engine).
import '../engine/wasm-kernels.js';

/** Mean categorical cross-entropy of softmax outputs against target rows (which may be weighted). */
export function crossEntropy(probs: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.log(tf.clipByValue(probs, 1e-7, 1))), -1))) as tf.Scalar);
}

export class LocalTrainer implements Trainer {
  readonly workers = 0;
  private constructor(
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.AdamOptimizer,
  ) {}

  static async create(config: TrainerConfig): Promise<LocalTrainer> {
    const model = await tf.models.modelFromJSON({ modelTopology: config.modelTopology } as tf.io.ModelArtifacts as never);
    if (config.weights.length !== model.weights.length) {
      model.dispose();
      throw new Error(`trainer got ${config.weights.length} weight arrays for a model with ${model.weights.length} weights`);
    }
    tf.tidy(() => model.setWeights(model.weights.map((w, i) => tf.tensor(config.weights[i], w.shape as number[]))));
    const o = config.optimizer;
    const optimizer = tf.train.adam(o.learningRate, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.epsilon ?? 1e-7);
    return new LocalTrainer(model, optimizer);
  }

  async trainStep(x: Float32Array, y: Float32Array, n: number): Promise<StepResult> {
    const shape = this.model.inputs[0].shape;
    const classes = Number(this.model.outputs[0].shape[this.model.outputs[0].shape.length - 1]);
    const vars = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const result = tf.tidy(() => {
      const xs = tf.tensor4d(x.subarray(0, n * Number(shape[1]) * Number(shape[2]) * Number(shape[3])), [n, Number(shape[1]), Number(shape[2]), Number(shape[3])]);
      const ys = tf.tensor2d(y.subarray(0, n * classes), [n, classes]);
      let ce: tf.Scalar | undefined;
      let reg: tf.Scalar | undefined;
      let acc: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const probs = this.model.apply(xs, { training: true }) as tf.Tensor;
        ce = tf.keep(crossEntropy(probs, ys));
        const regs = this.model.layers.flatMap((l) => l.calculateLosses());
        reg = tf.keep(regs.length ? (tf.addN(regs) as tf.Scalar) : tf.scalar(0));
        acc = tf.keep(tf.mean(tf.cast(tf.equal(tf.argMax(probs, -1), tf.argMax(ys, -1)), 'float32')) as tf.Scalar);
        return tf.add(ce, reg) as tf.Scalar;
      }, vars);
      this.optimizer.applyGradients(grads as Parameters<tf.AdamOptimizer['applyGradients']>[0]);
      value.dispose();
      return [ce!, reg!, acc!];
    });
    const [loss, regularizationLoss, accuracy] = await Promise.all(result.map(async (t) => (await t.data())[0]));
    tf.dispose(result);
    return { loss, regularizationLoss, accuracy };
  }

  setLearningRate(lr: number): void {
    // Adam reads this field on every step; tfjs exposes no setter.
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
  }

  getLearningRate(): number {
    return (this.optimizer as unknown as { learningRate: number }).learningRate;
  }

  async getWeights(): Promise<Float32Array[]> {
    return Promise.all(this.model.weights.map(async (w) => Float32Array.from(await w.read().data())));
  }

  async getOptimizerState(): Promise<OptimizerState> {
    const named = await this.optimizer.getWeights();
    const iterations = named.length ? (await named[0].tensor.data())[0] : 0;
    const slots = await Promise.all(named.slice(1).map(async (v) => Float32Array.from(await v.tensor.data())));
    named.slice(0, 1).forEach((v) => v.tensor.dispose());
    return { iterations, slots };
  }

  async setOptimizerState(state: OptimizerState): Promise<void> {
    const vars = this.model.trainableWeights;
    if (state.slots.length !== 2 * vars.length) {
      throw new Error(`optimizer state has ${state.slots.length} slots, the model needs ${2 * vars.length}`);
    }
    const shapeOf = (i: number) => vars[i % vars.length].shape as number[];
    const named: Array<{ name: string; tensor: tf.Tensor }> = [{ name: 'iter', tensor: tf.scalar(state.iterations, 'int32') }];
    state.slots.forEach((s, i) => named.push({ name: `${vars[i % vars.length].originalName}/${i < vars.length ? 'm' : 'v'}`, tensor: tf.tensor(s, shapeOf(i)) }));
    // Adam.setWeights makes new slot variables: free the old ones.
    const slots = this.optimizer as unknown as Record<'accumulatedFirstMoment' | 'accumulatedSecondMoment', Array<{ variable: tf.Variable } | undefined>>;
    for (const key of ['accumulatedFirstMoment', 'accumulatedSecondMoment'] as const) for (const v of slots[key] ?? []) v?.variable.dispose();
    await this.optimizer.setWeights(named);
    tf.dispose(named.map((n) => n.tensor));
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

export function createLocalTrainer(config: TrainerConfig): Promise<Trainer> {
  return LocalTrainer.create(config);
}
