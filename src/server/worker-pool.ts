/**
 * A ServerPipeline spread over worker threads: each worker loads the models once and runs whole
 * requests, so N workers use N cores and the HTTP thread stays responsive while they compute.
 * Each call goes to the worker with the fewest calls in flight; a worker that dies is replaced and
 * its in-flight calls fail with an error (500), never hang.
 */
import { Worker } from 'node:worker_threads';
import type { RawImage } from '../data/preprocess.js';
import { setupBackend } from '../engine/backend.js';
import { UserError } from '../errors.js';
import type { FaceClassifierOptions } from '../pipeline/face-classifier.js';
import type { ClassifyOptions, ClassifyResult, PipelineMemory, SaliencyOptions, ServedModel, ServerPipeline } from './pipeline.js';
import type { WorkerReply, WorkerRequest } from './pipeline-worker.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, Pending>;
}

const WORKER_URL = new URL('./pipeline-worker.js', import.meta.url);

type Ready = { type: 'ready'; detectorName: string; models: ServedModel[] } | { type: 'failed'; message: string; user: boolean };

function spawn(options: FaceClassifierOptions): Promise<{ worker: Worker; ready: Extract<Ready, { type: 'ready' }> }> {
  // One pipeline per worker already uses the cores: no further classifier threads inside each.
  const worker = new Worker(WORKER_URL, { workerData: { classifierWorkers: 0, ...options } });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`pipeline worker exited with code ${code} while loading`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (m: Ready) => {
      worker.off('error', reject);
      worker.off('exit', onExit);
      if (m.type === 'ready') resolve({ worker, ready: m });
      else {
        void worker.terminate();
        reject(m.user ? new UserError(m.message) : new Error(m.message));
      }
    });
  });
}

export class WorkerPoolPipeline implements ServerPipeline {
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly slots: Slot[],
    private readonly options: FaceClassifierOptions,
    readonly detectorName: string,
    private readonly served: ServedModel[],
  ) {
    for (const s of slots) this.watch(s);
  }

  static async load(options: FaceClassifierOptions, workers: number): Promise<WorkerPoolPipeline> {
    if (!(Number.isInteger(workers) && workers >= 1)) throw new UserError(`workers must be an integer >= 1, got ${workers}`);
    // The server thread reports tf state in /healthz: give it the same backend as the workers.
    await setupBackend(options.backend);
    const started = await Promise.allSettled(Array.from({ length: workers }, () => spawn(options)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const r of started) if (r.status === 'fulfilled') await r.value.worker.terminate();
      throw failed.reason;
    }
    const ok = started as Array<PromiseFulfilledResult<{ worker: Worker; ready: Extract<Ready, { type: 'ready' }> }>>;
    const first = ok[0].value.ready;
    return new WorkerPoolPipeline(ok.map((r) => ({ worker: r.value.worker, inflight: new Map() })), options, first.detectorName, first.models);
  }

  get size(): number {
    return this.slots.length;
  }

  private watch(slot: Slot): void {
    slot.worker.on('message', (m: WorkerReply) => {
      const p = slot.inflight.get(m.id);
      if (!p) return;
      slot.inflight.delete(m.id);
      if (m.error) p.reject(m.error.user ? new UserError(m.error.message) : new Error(m.error.message));
      else p.resolve(m.value);
    });
    slot.worker.on('error', () => {
      // 'exit' follows; handled there.
    });
    slot.worker.once('exit', (code) => {
      for (const p of slot.inflight.values()) p.reject(new Error(`pipeline worker stopped (exit code ${code}) during the request`));
      slot.inflight.clear();
      if (this.closing) return;
      // Replace the dead worker; until then its slot takes no work.
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      void spawn(this.options)
        .then(({ worker }) => {
          if (this.closing) return void worker.terminate();
          const fresh: Slot = { worker, inflight: new Map() };
          this.slots.push(fresh);
          this.watch(fresh);
        })
        .catch(() => undefined);
    });
  }

  private call<T>(op: WorkerRequest['op'], args: unknown[], slot?: Slot): Promise<T> {
    const target = slot ?? this.slots.reduce<Slot | undefined>((best, s) => (!best || s.inflight.size < best.inflight.size ? s : best), undefined);
    if (!target) return Promise.reject(new Error('no pipeline worker is running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      target.inflight.set(id, { resolve: resolve as (v: unknown) => void, reject });
      target.worker.postMessage({ id, op, args } satisfies WorkerRequest);
    });
  }

  classify(image: RawImage, opts?: ClassifyOptions): Promise<ClassifyResult> {
    return this.call('classify', [image, opts]);
  }

  async annotate(image: RawImage, result: ClassifyResult): Promise<Buffer> {
    return toBuffer(await this.call<Uint8Array>('annotate', [image, result]));
  }

  async saliency(image: RawImage, result: ClassifyResult, opts: SaliencyOptions): Promise<Buffer> {
    return toBuffer(await this.call<Uint8Array>('saliency', [image, result, opts]));
  }

  models(): ServedModel[] {
    return this.served;
  }

  /** Tensors and heap of all workers together. */
  async memory(): Promise<PipelineMemory> {
    const all = await Promise.all(this.slots.map((s) => this.call<{ numTensors: number; numBytes: number; heapUsed: number }>('stats', [], s)));
    return all.reduce((acc, m) => ({ tensors: acc.tensors + m.numTensors, tensorBytes: acc.tensorBytes + m.numBytes, heapUsed: acc.heapUsed + m.heapUsed }), { tensors: 0, tensorBytes: 0, heapUsed: 0 });
  }

  async dispose(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (s) => {
        await this.call('dispose', [], s).catch(() => undefined);
        await s.worker.terminate();
      }),
    );
  }
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
