/**
 * The training engine: createTrainer(config) implements the Trainer contract (trainer-types.ts).
 *
 * - workers = 0: one replica on the calling thread (its tfjs backend, wasm by default).
 * - workers = N >= 1: one replica per worker thread, each with its own tfjs + wasm instance.
 *   Each step splits the batch into N contiguous shards (sizes differ by at most one); every worker
 *   computes the gradient of its shard's mean loss; the main thread averages them weighted by shard
 *   size (= the gradient of the whole batch's mean loss) and sends the average to every worker,
 *   which applies the same Adam update, so weights stay identical on all workers.
 *   Batch norm: each worker normalises with its own shard's batch statistics (as with per-GPU batch
 *   norm), and the moving mean/variance after the step are the shard-size-weighted average of the
 *   workers' updated values, broadcast back. The averaged moving mean equals the full-batch one; the
 *   averaged moving variance omits the between-shard spread of the means (slightly smaller).
 *   With one worker the step runs entirely in that worker (no averaging round trip).
 *
 * Call dispose() when done: live workers keep the process running.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, type BackendName } from './backend.js';
import { Replica, type ShardGradients, type ShardStats } from './replica.js';
import type { OptimizerState, StepResult, Trainer, TrainerConfig } from './trainer-types.js';

export function defaultWorkers(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Split n samples into at most k contiguous shards of near-equal size: [start, count][]. */
export function shardRanges(n: number, k: number): Array<[number, number]> {
  const shards = Math.max(1, Math.min(n, k));
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < shards; i++) {
    const count = Math.floor(n / shards) + (i < n % shards ? 1 : 0);
    out.push([start, count]);
    start += count;
  }
  return out;
}

/**
 * Shard-size-weighted average of shard gradients (each the gradient of its shard's mean loss, so the
 * result is the gradient of the whole batch's mean loss) and of the post-step batch-norm statistics.
 */
export function averageShards(parts: Array<Pick<ShardGradients, 'n' | 'grads' | 'state'>>): { grads: Float32Array; state: Float32Array } {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const grads = new Float32Array(parts[0].grads.length);
  const state = new Float32Array(parts[0].state.length);
  for (const p of parts) {
    const w = p.n / n;
    for (let i = 0; i < grads.length; i++) grads[i] += w * p.grads[i];
    for (let i = 0; i < state.length; i++) state[i] += w * p.state[i];
  }
  return { grads, state };
}

function toResult(parts: ShardStats[]): StepResult {
  const n = parts.reduce((a, p) => a + p.n, 0);
  return {
    loss: parts.reduce((a, p) => a + p.lossSum, 0) / n,
    regularizationLoss: parts[0].regularizationLoss,
    accuracy: parts.reduce((a, p) => a + p.correct, 0) / n,
  };
}

function validateConfig(config: TrainerConfig): number {
  const workers = config.workers ?? defaultWorkers();
  if (!Number.isInteger(workers) || workers < 0 || workers > 256) throw new Error(`workers must be an integer in [0, 256], got ${workers}`);
  if (!config.modelTopology || typeof config.modelTopology !== 'object') throw new Error('trainer: modelTopology must be a tfjs-layers topology object');
  if (!Array.isArray(config.weights)) throw new Error('trainer: weights must be an array of Float32Array');
  return workers;
}

/** Trainer config for an existing tfjs-layers model (topology + current weights). */
export function trainerConfigFromModel(
  model: tf.LayersModel,
  optimizer: TrainerConfig['optimizer'],
  opts: { workers?: number; backend?: BackendName } = {},
): TrainerConfig {
  return {
    modelTopology: JSON.parse(JSON.stringify(model.toJSON(null, false))) as object,
    weights: model.weights.map((w) => w.read().dataSync().slice() as Float32Array),
    optimizer,
    ...opts,
  };
}

export async function createTrainer(config: TrainerConfig): Promise<Trainer> {
  const workers = validateConfig(config);
  if (workers === 0) {
    await setupBackend(config.backend);
    return new InThreadTrainer(await Replica.create(config));
  }
  return WorkerTrainer.start(config, workers);
}

class InThreadTrainer implements Trainer {
  readonly workers = 0;
  private disposed = false;
  constructor(private readonly replica: Replica) {}

  private live(): Replica {
    if (this.disposed) throw new Error('trainer has been disposed');
    return this.replica;
  }

  async trainStep(x: Float32Array, y: Float32Array, n: number): Promise<StepResult> {
    return toResult([this.live().step(x, y, n)]);
  }
  setLearningRate(lr: number): void {
    this.live().setLearningRate(lr);
  }
  getLearningRate(): number {
    return this.live().getLearningRate();
  }
  async getWeights(): Promise<Float32Array[]> {
    return this.live().getWeights();
  }
  getOptimizerState(): Promise<OptimizerState> {
    return this.live().getOptimizerState();
  }
  setOptimizerState(state: OptimizerState): Promise<void> {
    return this.live().setOptimizerState(state);
  }
  async memory(): Promise<Array<{ numTensors: number; numBytes: number }>> {
    const m = tf.memory();
    return [{ numTensors: m.numTensors, numBytes: m.numBytes }];
  }
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.replica.dispose();
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** A worker thread with request/response messaging; a crashed worker rejects all pending calls. */
class WorkerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;

  constructor(
    private readonly worker: Worker,
    readonly index: number,
  ) {
    worker.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`training worker ${index}: ${msg.error}`));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`training worker ${index} crashed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`training worker ${index} exited (code ${code})`)));
  }

  call<T>(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.failure ??= new Error(`training worker ${this.index} has been terminated`);
    await this.worker.terminate();
  }
}

class WorkerTrainer implements Trainer {
  private lr: number;
  private disposed = false;
  private busy: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly clients: WorkerClient[],
    config: TrainerConfig,
  ) {
    this.lr = config.optimizer.learningRate;
  }

  get workers(): number {
    return this.clients.length;
  }

  static async start(config: TrainerConfig, workers: number): Promise<WorkerTrainer> {
    const url = new URL('./train-worker.js', import.meta.url);
    const clients: WorkerClient[] = [];
    for (let i = 0; i < workers; i++) clients.push(new WorkerClient(new Worker(url), i));
    const replicaConfig = { modelTopology: config.modelTopology, weights: config.weights, optimizer: config.optimizer };
    try {
      await Promise.all(clients.map((c) => c.call({ type: 'init', config: replicaConfig, backend: config.backend ?? 'wasm' })));
    } catch (err) {
      await Promise.all(clients.map((c) => c.terminate()));
      throw err;
    }
    return new WorkerTrainer(clients, config);
  }

  /** Calls are serialised so a step never interleaves with another step or a state read. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('trainer has been disposed'));
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => undefined);
    return run;
  }

  trainStep(x: Float32Array, y: Float32Array, n: number): Promise<StepResult> {
    if (!Number.isInteger(n) || n < 1) return Promise.reject(new Error(`batch size must be a positive integer, got ${n}`));
    if (x.length % n !== 0 || y.length % n !== 0) {
      return Promise.reject(new Error(`x (${x.length} values) and y (${y.length} values) must hold ${n} samples each`));
    }
    return this.serial(async () => {
      const perX = x.length / n;
      const perY = y.length / n;
      const shard = (start: number, count: number) => ({
        x: x.slice(start * perX, (start + count) * perX),
        y: y.slice(start * perY, (start + count) * perY),
        n: count,
      });
      if (this.clients.length === 1) {
        const s = shard(0, n);
        return toResult([await this.clients[0].call<ShardStats>({ type: 'step', ...s }, [s.x.buffer])]);
      }
      const ranges = shardRanges(n, this.clients.length);
      const parts = await Promise.all(
        ranges.map(([start, count], i) => {
          const s = shard(start, count);
          return this.clients[i].call<ShardGradients>({ type: 'grads', ...s }, [s.x.buffer]);
        }),
      );
      const { grads, state } = averageShards(parts);
      await Promise.all(this.clients.map((c) => c.call({ type: 'apply', grads, state })));
      return toResult(parts);
    });
  }

  setLearningRate(lr: number): void {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`learning rate must be a positive number, got ${lr}`);
    this.lr = lr;
    // A dead worker is reported by the next trainStep; don't leave an unhandled rejection here.
    this.serial(() => Promise.all(this.clients.map((c) => c.call({ type: 'setLearningRate', lr })))).catch(() => undefined);
  }

  getLearningRate(): number {
    return this.lr;
  }

  getWeights(): Promise<Float32Array[]> {
    return this.serial(() => this.clients[0].call<Float32Array[]>({ type: 'getWeights' }));
  }

  getOptimizerState(): Promise<OptimizerState> {
    return this.serial(() => this.clients[0].call<OptimizerState>({ type: 'getOptimizerState' }));
  }

  setOptimizerState(state: OptimizerState): Promise<void> {
    return this.serial(async () => {
      await Promise.all(this.clients.map((c) => c.call({ type: 'setOptimizerState', state })));
    });
  }

  /** tf.memory() of each worker (for leak checks). */
  memory(): Promise<Array<{ numTensors: number; numBytes: number }>> {
    return this.serial(() => Promise.all(this.clients.map((c) => c.call<{ numTensors: number; numBytes: number }>({ type: 'memory' }))));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.busy;
    this.disposed = true;
    await Promise.all(this.clients.map((c) => c.terminate()));
  }
}

export type { Trainer, TrainerConfig, StepResult, OptimizerState, BackendName };
