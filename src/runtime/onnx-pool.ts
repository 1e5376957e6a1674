/**
 * Sessions in worker threads for batched inference on several cores; each worker holds a session
 * for every model of the pool. Workers start lazily, are unref'd while idle (an undisposed runtime
 * never keeps the process alive) and fail loudly.
 */
import { Worker } from 'node:worker_threads';
import type * as ortTypes from 'onnxruntime-node';
import { shardRanges } from '../engine/shards.js';
import type { ModelInput, WorkerReply, WorkerRequest } from './onnx-worker.js';

interface Pending {
  resolve: (outs: Float32Array[]) => void;
  reject: (err: Error) => void;
}

class SessionWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  readonly ready: Promise<void>;
  private isReady = false;
  private failed?: Error;

  constructor(models: Uint8Array[], options: ortTypes.InferenceSession.SessionOptions) {
    this.worker = new Worker(new URL('./onnx-worker.js', import.meta.url), { workerData: { models, options } });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m: WorkerReply) => {
        if ('ready' in m) {
          this.isReady = true;
          return resolve();
        }
        if ('fatal' in m) return reject(this.fail(new Error(`onnxruntime worker could not load the model: ${m.fatal}`)));
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (this.pending.size === 0) this.worker.unref();
        if ('error' in m) p.reject(new Error(`onnxruntime worker: ${m.error}`));
        else p.resolve(m.outs);
      });
      this.worker.on('error', (err) => reject(this.fail(err)));
      this.worker.on('exit', (code) => reject(this.fail(new Error(`onnxruntime worker exited with code ${code}`))));
    });
    this.ready.catch(() => undefined);
  }

  private fail(err: Error): Error {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    return err;
  }

  /** Posts the request synchronously once the worker is ready (callers rely on that to overlap work). */
  async run(inputs: ModelInput[], chunk: number): Promise<Float32Array[]> {
    if (!this.isReady) await this.ready;
    if (this.failed) throw this.failed;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      // Copy: the caller keeps its buffers.
      const copies = inputs.map((x) => ({ ...x, data: x.data.slice() }));
      this.worker.postMessage(
        { id, inputs: copies, chunk } satisfies WorkerRequest,
        copies.map((x) => x.data.buffer as ArrayBuffer),
      );
    });
  }

  async terminate(): Promise<void> {
    this.fail(new Error('onnxruntime worker terminated'));
    await this.worker.terminate();
  }
}

export class OnnxWorkerPool {
  private workers?: SessionWorker[];
  private started = false;

  constructor(
    private readonly models: Uint8Array[],
    private readonly options: ortTypes.InferenceSession.SessionOptions,
    readonly size: number,
  ) {}

  /** Start the workers (idempotent); resolves when every session is loaded. */
  async start(): Promise<SessionWorker[]> {
    const ws = (this.workers ??= Array.from({ length: this.size }, () => new SessionWorker(this.models, this.options)));
    await Promise.all(ws.map((w) => w.ready));
    this.started = this.workers === ws;
    return ws;
  }

  /**
   * Run inputs through models of the pool in worker `worker`, `chunk` faces per session.run; one
   * output per input. Once start() has resolved, the request is posted before this returns.
   */
  run(worker: number, inputs: ModelInput[], chunk: number): Promise<Float32Array[]> {
    if (this.started && this.workers) return this.workers[worker].run(inputs, chunk);
    return this.start().then((ws) => ws[worker].run(inputs, chunk));
  }

  async dispose(): Promise<void> {
    const ws = this.workers ?? [];
    this.workers = undefined;
    this.started = false;
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

export interface ShardedRun {
  /** Batches per model, n faces each, laid out [n, ...faceDims[m]]. */
  batches: Float32Array[];
  n: number;
  faceDims: number[][];
  classes: number[];
  /** Faces per session.run (small batches stay in the CPU cache). */
  chunk: number;
  pool?: OnnxWorkerPool;
  /** One session.run of k faces of model m on the calling thread. */
  local: (model: number, data: Float32Array, k: number) => Promise<Float32Array>;
}

/**
 * Run n faces through every model, the calling thread and the pool's workers each taking one
 * contiguous share of the faces. A worker gets its whole share in one message: onnxruntime-node
 * runs sessions synchronously, so while the calling thread computes it cannot hand out more work,
 * and per-chunk dispatch left the workers idle (measured: 1.37x instead of 1.6x on 2 cores).
 */
export async function runSharded(r: ShardedRun): Promise<Float32Array[]> {
  const per = r.faceDims.map((d) => d.reduce((a, b) => a * b, 1));
  const outs = r.classes.map((k) => new Float32Array(r.n * k));
  if (r.n === 0) return outs;
  const workers = Math.min(r.pool?.size ?? 0, Math.ceil(r.n / r.chunk) - 1);
  if (workers > 0) await r.pool!.start();
  const ranges = shardRanges(r.n, workers + 1);
  const store = (m: number, start: number, k: number, y: Float32Array) => {
    if (y.length !== k * r.classes[m]) throw new Error(`ONNX model ${m} returned ${y.length} values for ${k} inputs of ${r.classes[m]} classes`);
    outs[m].set(y, start * r.classes[m]);
  };
  const slice = (m: number, start: number, k: number) => r.batches[m].subarray(start * per[m], (start + k) * per[m]);
  // Post the workers' shares first (synchronously: the pool is started), then compute the calling thread's share.
  const remote = ranges.slice(1).map(async ([start, count], w) => {
    const ys = await r.pool!.run(
      w,
      r.batches.map((_, m) => ({ model: m, data: slice(m, start, count), dims: [count, ...r.faceDims[m]] })),
      r.chunk,
    );
    ys.forEach((y, m) => store(m, start, count, y));
  });
  const [start0, count0] = ranges[0];
  const local = (async () => {
    for (let i = start0; i < start0 + count0; i += r.chunk) {
      const k = Math.min(r.chunk, start0 + count0 - i);
      for (let m = 0; m < r.batches.length; m++) store(m, i, k, await r.local(m, slice(m, i, k), k));
    }
  })();
  await Promise.all([local, ...remote]);
  return outs;
}
