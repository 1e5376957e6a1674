/**
 * One model replica: a tfjs-layers model plus an Adam optimizer on the current thread. Used directly
 * by the in-thread trainer (0 workers) and once per worker thread by the data-parallel trainer.
 *
 * Loss: mean categorical cross-entropy of the model's softmax output against the given target
 * probabilities (clipped to [1e-7, 1 - 1e-7] as Keras does), plus the layers' regularisation losses
 * (L2 on kernels). Batch norm runs in training mode and updates its moving statistics.
 */
import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig, OptimizerState } from './trainer-types.js';
import './wasm-kernels.js';

const EPS = 1e-7;

export interface ReplicaConfig {
  modelTopology: object;
  weights: Float32Array[];
  optimizer: OptimizerConfig;
}

/** Sums over a shard, so shards can be combined exactly: loss * n, correct count. */
export interface ShardStats {
  n: number;
  lossSum: number;
  regularizationLoss: number;
  correct: number;
}

export interface ShardGradients extends ShardStats {
  /** All trainable-weight gradients (of the shard's mean loss + regularisation), concatenated. */
  grads: Float32Array;
  /** Non-trainable weights (batch-norm moving statistics) after this shard's update, concatenated. */
  state: Float32Array;
}

function validateOptimizer(o: OptimizerConfig): void {
  if (o.name !== 'adam') throw new Error(`unsupported optimizer "${String(o.name)}": only adam`);
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate)) throw new Error(`learning rate must be a positive number, got ${o.learningRate}`);
}

function layerVar(w: tf.LayerVariable): tf.Variable {
  return (w as unknown as { val: tf.Variable }).val;
}

export class Replica {
  private readonly trainable: tf.Variable[];
  private readonly nonTrainable: tf.Variable[];
  private readonly optimizer: FlatAdam;

  private constructor(
    readonly model: tf.LayersModel,
    opt: OptimizerConfig,
  ) {
    this.trainable = model.trainableWeights.map(layerVar);
    this.nonTrainable = model.nonTrainableWeights.map(layerVar);
    this.optimizer = new FlatAdam(this.trainable, opt);
  }

  static async create(cfg: ReplicaConfig): Promise<Replica> {
    validateOptimizer(cfg.optimizer);
    const model = await tf.models.modelFromJSON({ modelTopology: cfg.modelTopology } as tf.io.ModelJSON as never);
    const ws = model.weights;
    if (cfg.weights.length !== ws.length) {
      model.dispose();
      throw new Error(`trainer: expected ${ws.length} weight arrays for this topology, got ${cfg.weights.length}`);
    }
    const tensors = ws.map((w, i) => {
      const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      if (cfg.weights[i].length !== size) throw new Error(`trainer: weight ${w.name} needs ${size} values, got ${cfg.weights[i].length}`);
      return tf.tensor(cfg.weights[i], w.shape as number[], 'float32');
    });
    model.setWeights(tensors);
    tf.dispose(tensors);
    return new Replica(model, cfg.optimizer);
  }

  get inputShape(): number[] {
    return (this.model.inputs[0].shape as number[]).slice(1);
  }

  get numClasses(): number {
    return this.model.outputs[0].shape[this.model.outputs[0].shape.length - 1] as number;
  }

  private checkBatch(x: Float32Array, y: Float32Array, n: number): void {
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(n) || n < 1) throw new Error(`batch size must be a positive integer, got ${n}`);
    if (x.length !== n * per) throw new Error(`x has ${x.length} values, expected ${n} x ${this.inputShape.join('x')} = ${n * per}`);
    if (y.length !== n * this.numClasses) throw new Error(`y has ${y.length} values, expected ${n} x ${this.numClasses} classes`);
  }

  /** Forward + backward on a shard; returns gradient tensors (caller disposes) and shard sums. */
  private gradients(x: Float32Array, y: Float32Array, n: number): { grads: tf.Tensor[]; stats: ShardStats } {
    this.checkBatch(x, y, n);
    let ce: tf.Scalar | undefined;
    let reg: tf.Scalar | undefined;
    let correct: tf.Scalar | undefined;
    const { value, grads } = tf.tidy(() => {
      const xt = tf.tensor(x, [n, ...this.inputShape], 'float32');
      const yt = tf.tensor2d(y, [n, this.numClasses], 'float32');
      return tf.variableGrads(() => {
        const p = this.model.apply(xt, { training: true }) as tf.Tensor2D;
        const clipped = tf.clipByValue(p, EPS, 1 - EPS);
        const c = tf.mean(tf.neg(tf.sum(tf.mul(yt, tf.log(clipped)), -1))) as tf.Scalar;
        const losses = this.model.calculateLosses();
        const r = (losses.length > 0 ? tf.addN(losses) : tf.scalar(0)) as tf.Scalar;
        ce = tf.keep(c);
        reg = tf.keep(r);
        correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(yt, -1)), 'float32')) as tf.Scalar);
        return tf.add(c, r) as tf.Scalar;
      }, this.trainable);
    });
    value.dispose();
    const ordered = this.trainable.map((v) => grads[v.name]);
    const [ceV, regV, corrV] = [ce!.dataSync()[0], reg!.dataSync()[0], correct!.dataSync()[0]];
    tf.dispose([ce!, reg!, correct!]);
    return { grads: ordered, stats: { n, lossSum: ceV * n, regularizationLoss: regV, correct: corrV } };
  }

  /** One complete optimizer step on this thread. */
  step(x: Float32Array, y: Float32Array, n: number): ShardStats {
    const { grads, stats } = this.gradients(x, y, n);
    this.applyTensors(grads);
    tf.dispose(grads);
    return stats;
  }

  /** Gradients and post-update non-trainable state of a shard, as flat arrays (for averaging). */
  shardGradients(x: Float32Array, y: Float32Array, n: number): ShardGradients {
    const { grads, stats } = this.gradients(x, y, n);
    const flat = tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(g, [-1]))));
    tf.dispose(grads);
    const out = { ...stats, grads: flat.dataSync() as Float32Array, state: this.readState() };
    flat.dispose();
    return out;
  }

  private applyTensors(grads: tf.Tensor[]): void {
    const flat = tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(g, [-1]))));
    const values = flat.dataSync() as Float32Array;
    flat.dispose();
    this.optimizer.apply(values);
  }

  /** Apply an averaged flat gradient (same layout as shardGradients) and set the non-trainable state. */
  applyFlat(grads: Float32Array, state?: Float32Array): void {
    if (grads.length !== this.gradientSize) throw new Error(`gradient has ${grads.length} values, model needs ${this.gradientSize}`);
    this.optimizer.apply(grads);
    if (state) this.writeState(state);
  }

  /** Values of the non-trainable weights (batch-norm moving statistics), concatenated. */
  get stateSize(): number {
    return this.nonTrainable.reduce((a, v) => a + v.size, 0);
  }

  get gradientSize(): number {
    return this.trainable.reduce((a, v) => a + v.size, 0);
  }

  readState(): Float32Array {
    const total = this.nonTrainable.reduce((a, v) => a + v.size, 0);
    const out = new Float32Array(total);
    let off = 0;
    for (const v of this.nonTrainable) {
      out.set(v.dataSync() as Float32Array, off);
      off += v.size;
    }
    return out;
  }

  writeState(state: Float32Array): void {
    let off = 0;
    for (const v of this.nonTrainable) {
      const t = tf.tensor(state.subarray(off, off + v.size), v.shape, 'float32');
      v.assign(t);
      t.dispose();
      off += v.size;
    }
  }

  setLearningRate(lr: number): void {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`learning rate must be a positive number, got ${lr}`);
    this.optimizer.learningRate = lr;
  }

  getLearningRate(): number {
    return this.optimizer.learningRate;
  }

  getWeights(): Float32Array[] {
    return this.model.weights.map((w) => layerVar(w).dataSync().slice() as Float32Array);
  }

  async getOptimizerState(): Promise<OptimizerState> {
    return this.optimizer.getState();
  }

  async setOptimizerState(state: OptimizerState): Promise<void> {
    this.optimizer.setState(state);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/**
 * Adam with tf.train.adam's update (bias-corrected moments, epsilon added to the square root of the
 * corrected second moment) on one flat buffer for all trainable weights, as a plain loop over
 * Float32Arrays: the moments live in JS, the weights are mirrored in JS and each variable is
 * re-uploaded once per step. This replaced ~15 flat tfjs kernels plus a split/reshape/add/assign per
 * weight (~180 kernel calls, 5-8 ms per mini-Xception step on wasm) with ~1 ms. The weights cannot be
 * written in place on the wasm heap: the backend caches XNNPACK operators with packed filters per
 * tensor, so only a new tensor (assign) makes a convolution see new weights.
 */
export class FlatAdam {
  learningRate: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private iterations = 0;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  /** Current weights, concatenated in `vars` order (kept equal to the variables). */
  private readonly w: Float32Array;
  private readonly size: number;

  constructor(
    private readonly vars: tf.Variable[],
    cfg: OptimizerConfig,
  ) {
    this.learningRate = cfg.learningRate;
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.999;
    this.epsilon = cfg.epsilon ?? 1e-7;
    for (const [k, b] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`adam ${k} must be in [0, 1), got ${b}`);
    }
    if (!(this.epsilon > 0)) throw new Error(`adam epsilon must be > 0, got ${this.epsilon}`);
    this.size = vars.reduce((a, v) => a + v.size, 0);
    this.m = new Float32Array(this.size);
    this.v = new Float32Array(this.size);
    this.w = new Float32Array(this.size);
    let off = 0;
    for (const v of vars) {
      this.w.set(v.dataSync() as Float32Array, off);
      off += v.size;
    }
  }

  apply(grad: Float32Array): void {
    if (grad.length !== this.size) throw new Error(`gradient has ${grad.length} values, expected ${this.size}`);
    const t = this.iterations + 1;
    const { beta1: b1, beta2: b2, epsilon: eps, m, v, w } = this;
    const c1 = 1 - Math.pow(b1, t);
    const c2 = 1 - Math.pow(b2, t);
    const lr = this.learningRate;
    for (let i = 0; i < grad.length; i++) {
      const g = grad[i];
      const mi = b1 * m[i] + (1 - b1) * g;
      const vi = b2 * v[i] + (1 - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      w[i] -= (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
    this.iterations = t;
    this.upload();
  }

  private upload(): void {
    let off = 0;
    for (const variable of this.vars) {
      const t = tf.tensor(this.w.subarray(off, off + variable.size), variable.shape, 'float32');
      variable.assign(t);
      t.dispose();
      off += variable.size;
    }
  }

  getState(): OptimizerState {
    const split = (flat: Float32Array) => {
      const out: Float32Array[] = [];
      let off = 0;
      for (const w of this.vars) {
        out.push(flat.slice(off, off + w.size));
        off += w.size;
      }
      return out;
    };
    if (this.iterations === 0) return { iterations: 0, slots: [] };
    return { iterations: this.iterations, slots: [...split(this.m), ...split(this.v)] };
  }

  setState(state: OptimizerState): void {
    if (!Number.isInteger(state.iterations) || state.iterations < 0)
      throw new Error(`optimizer iterations must be a non-negative integer, got ${state.iterations}`);
    const n = this.vars.length;
    if (state.slots.length === 0) {
      this.m.fill(0);
      this.v.fill(0);
      this.iterations = state.iterations;
      return;
    }
    if (state.slots.length !== 2 * n) throw new Error(`optimizer state has ${state.slots.length} slots, this model needs ${2 * n}`);
    const join = (slots: Float32Array[], into: Float32Array) => {
      let off = 0;
      slots.forEach((s, i) => {
        if (s.length !== this.vars[i].size) throw new Error(`optimizer slot ${i} has ${s.length} values, expected ${this.vars[i].size}`);
        into.set(s, off);
        off += s.length;
      });
    };
    const m = new Float32Array(this.size);
    const v = new Float32Array(this.size);
    join(state.slots.slice(0, n), m);
    join(state.slots.slice(n), v);
    this.m.set(m);
    this.v.set(v);
    this.iterations = state.iterations;
  }

  dispose(): void {}
}
