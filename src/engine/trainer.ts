/**
 * The training engine: createTrainer(config) implements the Trainer contract (trainer-types.ts).
 *
 * - workers = 0: one replica on the calling thread (its tfjs backend, wasm by default).
 * - workers = N >= 1: one replica per worker thread, each with its own tfjs + wasm instance.
 *   Each step splits the batch into N contiguous shards (sizes differ by at most one); every worker
 *   computes the gradient of its shard's mean loss, the workers exchange them through shared memory
 *   (allreduce.ts) and each averages them weighted by shard size (= the gradient of the whole
 *   batch's mean loss) in the same order and applies the same Adam update, so weights stay
 *   identical on all workers. The main thread only hands out shards and collects the losses.
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
import { SharedGradients } from './allreduce.js';
import { Replica, type ShardStats } from './replica.js';
import { shardRanges } from './shards.js';
import type { OptimizerState, StepResult, Trainer, TrainerConfig } from './trainer-types.js';

export function defaultWorkers(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
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

  /** Called once if the worker crashes or exits (e.g. to release its peers from a barrier). */
  onFailure?: (err: Error) => void;

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
      if (!this.failure) this.onFailure?.(err);
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
    private readonly shared: SharedGradients | undefined,
  ) {
    this.lr = config.optimizer.learningRate;
    for (const c of clients) c.onFailure = () => shared?.abort();
  }

  get workers(): number {
    return this.clients.length;
  }

  static async start(config: TrainerConfig, workers: number): Promise<WorkerTrainer> {
    const url = new URL('./train-worker.js', import.meta.url);
    const clients: WorkerClient[] = [];
    // A larger young generation: a step allocates many short-lived tfjs objects, and fewer scavenges
    // leave more of the cores to the workers (measured ~2% per step with two workers).
    const resourceLimits = { maxYoungGenerationSizeMb: 128 };
    for (let i = 0; i < workers; i++) clients.push(new WorkerClient(new Worker(url, { resourceLimits }), i));
    const replicaConfig = { modelTopology: config.modelTopology, weights: config.weights, optimizer: config.optimizer };
    let shared: SharedGradients | undefined;
    try {
      const sizes = await Promise.all(
        clients.map((c) => c.call<{ gradientSize: number; stateSize: number }>({ type: 'init', config: replicaConfig, backend: config.backend ?? 'wasm' })),
      );
      if (workers > 1) {
        shared = SharedGradients.create(workers, sizes[0].gradientSize, sizes[0].stateSize);
        const { buffer, gradientSize, stateSize } = shared;
        await Promise.all(clients.map((c, index) => c.call({ type: 'attach', buffer, index, workers, gradientSize, stateSize })));
      }
    } catch (err) {
      await Promise.all(clients.map((c) => c.terminate()));
      throw err;
    }
    return new WorkerTrainer(clients, config, shared);
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
      // Every worker joins the step (a worker without samples when n < workers contributes nothing).
      const ranges = shardRanges(n, this.clients.length);
      const settled = await Promise.allSettled(
        this.clients.map((c, i) => {
          const s = i < ranges.length ? shard(...ranges[i]) : shard(0, 0);
          return c.call<ShardStats>({ type: 'step-shared', ...s }, [s.x.buffer]);
        }),
      );
      const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
      if (failures.length > 0) {
        this.shared!.reset();
        // Report the worker that failed, not the peers it released from the barrier.
        throw failures.find((e) => !/another worker failed/.test(e.message)) ?? failures[0];
      }
      return toResult(settled.map((r) => (r as PromiseFulfilledResult<ShardStats>).value).filter((p) => p.n > 0));
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

export { shardRanges, averageShards } from './shards.js';
export type { Trainer, TrainerConfig, StepResult, OptimizerState, BackendName };
