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
  private readonly optimizer: tf.AdamOptimizer;

  private constructor(
    readonly model: tf.LayersModel,
    opt: OptimizerConfig,
  ) {
    this.trainable = model.trainableWeights.map(layerVar);
    this.nonTrainable = model.nonTrainableWeights.map(layerVar);
    this.optimizer = tf.train.adam(opt.learningRate, opt.beta1 ?? 0.9, opt.beta2 ?? 0.999, opt.epsilon ?? 1e-7);
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
    const { grads } = tf.tidy(() => {
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
    const named = this.trainable.map((v, i) => ({ name: v.name, tensor: grads[i] }));
    this.optimizer.applyGradients(named);
  }

  /** Apply an averaged flat gradient (same layout as shardGradients) and set the non-trainable state. */
  applyFlat(grads: Float32Array, state?: Float32Array): void {
    const tensors: tf.Tensor[] = [];
    let off = 0;
    for (const v of this.trainable) {
      tensors.push(tf.tensor(grads.subarray(off, off + v.size), v.shape, 'float32'));
      off += v.size;
    }
    if (off !== grads.length) throw new Error(`gradient has ${grads.length} values, model needs ${off}`);
    this.applyTensors(tensors);
    tf.dispose(tensors);
    if (state) this.writeState(state);
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
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
  }

  getLearningRate(): number {
    return (this.optimizer as unknown as { learningRate: number }).learningRate;
  }

  getWeights(): Float32Array[] {
    return this.model.weights.map((w) => layerVar(w).dataSync().slice() as Float32Array);
  }

  async getOptimizerState(): Promise<OptimizerState> {
    const ws = await this.optimizer.getWeights();
    const iterations = ws.length > 0 ? (await ws[0].tensor.data())[0] : 0;
    const slots = await Promise.all(ws.slice(1).map(async (w) => (await w.tensor.data()).slice() as Float32Array));
    tf.dispose(ws.map((w) => w.tensor));
    return { iterations, slots };
  }

  async setOptimizerState(state: OptimizerState): Promise<void> {
    const expected = 2 * this.trainable.length;
    if (state.slots.length !== 0 && state.slots.length !== expected) {
      throw new Error(`optimizer state has ${state.slots.length} slots, this model needs ${expected}`);
    }
    if (state.slots.length === 0) return;
    const vars = [...this.trainable, ...this.trainable];
    const suffix = ['m', 'v'];
    const named = state.slots.map((s, i) => {
      const v = vars[i];
      if (s.length !== v.size) throw new Error(`optimizer slot ${i} has ${s.length} values, expected ${v.size}`);
      return { name: `${v.name}/${suffix[Math.floor(i / this.trainable.length)]}`, tensor: tf.tensor(s, v.shape, 'float32') };
    });
    // Adam.setWeights copies into new variables: free the old slots and the staging tensors.
    const slots = this.optimizer as unknown as Record<'accumulatedFirstMoment' | 'accumulatedSecondMoment', Array<{ variable: tf.Variable }>>;
    for (const key of ['accumulatedFirstMoment', 'accumulatedSecondMoment'] as const) {
      for (const s of slots[key] ?? []) s?.variable.dispose();
    }
    const iter = tf.scalar(state.iterations, 'int32');
    await this.optimizer.setWeights([{ name: 'iter', tensor: iter }, ...named]);
    tf.dispose([iter, ...named.map((n) => n.tensor)]);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
