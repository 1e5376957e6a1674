/**
 * Sessions in worker threads for batched inference on several cores. Workers start lazily, are
 * unref'd while idle (an undisposed runtime never keeps the process alive) and fail loudly.
 */
import { Worker } from 'node:worker_threads';
import type * as ortTypes from 'onnxruntime-node';
import type { WorkerReply, WorkerRequest } from './onnx-worker.js';

interface Pending {
  resolve: (out: Float32Array) => void;
  reject: (err: Error) => void;
}

class SessionWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  readonly ready: Promise<void>;
  private failed?: Error;

  constructor(bytes: Uint8Array, options: ortTypes.InferenceSession.SessionOptions) {
    this.worker = new Worker(new URL('./onnx-worker.js', import.meta.url), { workerData: { bytes, options } });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m: WorkerReply) => {
        if ('ready' in m) return resolve();
        if ('fatal' in m) return reject(this.fail(new Error(`onnxruntime worker could not load the model: ${m.fatal}`)));
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (this.pending.size === 0) this.worker.unref();
        if ('error' in m) p.reject(new Error(`onnxruntime worker: ${m.error}`));
        else p.resolve(m.out);
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

  async run(data: Float32Array, dims: number[]): Promise<Float32Array> {
    await this.ready;
    if (this.failed) throw this.failed;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      // Copy: the caller keeps its buffer.
      this.worker.postMessage({ id, data: data.slice(), dims } satisfies WorkerRequest);
    });
  }

  async terminate(): Promise<void> {
    this.fail(new Error('onnxruntime worker terminated'));
    await this.worker.terminate();
  }
}

export class OnnxWorkerPool {
  private workers?: SessionWorker[];

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: ortTypes.InferenceSession.SessionOptions,
    readonly size: number,
  ) {}

  /** Start the workers (idempotent); resolves when every session is loaded. */
  async start(): Promise<SessionWorker[]> {
    this.workers ??= Array.from({ length: this.size }, () => new SessionWorker(this.bytes, this.options));
    await Promise.all(this.workers.map((w) => w.ready));
    return this.workers;
  }

  async run(worker: number, data: Float32Array, dims: number[]): Promise<Float32Array> {
    const ws = await this.start();
    return ws[worker].run(data, dims);
  }

  async dispose(): Promise<void> {
    const ws = this.workers ?? [];
    this.workers = undefined;
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
