/**
 * A ServerPipeline spread over worker threads: each worker loads the models once and runs whole
 * requests, so N workers use N cores and the HTTP thread stays responsive while they compute.
 * Each call goes to the worker with the fewest calls in flight; a worker that dies is replaced and
 * its in-flight calls fail with an error (500), never hang. A call whose signal aborts (the request's
 * time limit) while it is its worker's only work stops that worker, which is replaced: a runaway
 * request cannot hold a core after its client got the 503. Calls made while no worker is up wait for
 * the replacement.
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
  /** Replacement workers being started. */
  private readonly starting = new Set<Promise<void>>();
  /** Workers stopped because a call's time limit passed. */
  cancelled = 0;
  /** Workers replaced (after a crash or a cancellation). */
  restarts = 0;

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
    return new WorkerPoolPipeline(
      ok.map((r) => ({ worker: r.value.worker, inflight: new Map() })),
      options,
      first.detectorName,
      first.models,
    );
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
      this.replace(slot);
    });
  }

  /** Take a slot out of service (its worker exited or is being stopped) and start its replacement, once. */
  private replace(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i < 0 || this.closing) return;
    this.slots.splice(i, 1);
    const replacing: Promise<void> = spawn(this.options)
      .then(({ worker }) => {
        if (this.closing) return void worker.terminate();
        const fresh: Slot = { worker, inflight: new Map() };
        this.slots.push(fresh);
        this.watch(fresh);
        this.restarts++;
      })
      .catch(() => undefined)
      .finally(() => this.starting.delete(replacing));
    this.starting.add(replacing);
  }

  /** The worker with the fewest calls in flight, waiting for a replacement when none is up. */
  private async pick(): Promise<Slot> {
    for (;;) {
      const best = this.slots.reduce<Slot | undefined>((b, s) => (!b || s.inflight.size < b.inflight.size ? s : b), undefined);
      if (best) return best;
      if (this.closing || this.starting.size === 0) throw new Error('no pipeline worker is running');
      await Promise.race(this.starting);
    }
  }

  private async call<T>(op: WorkerRequest['op'], args: unknown[], slot?: Slot, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const target = slot ?? (await this.pick());
    signal?.throwIfAborted();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        // Only a worker busy with this call alone is stopped; other requests' work is never lost.
        if (target.inflight.size !== 1 || !target.inflight.has(id)) return;
        target.inflight.delete(id);
        this.cancelled++;
        reject(signal!.reason instanceof Error ? signal!.reason : new Error('cancelled'));
        this.replace(target);
        void target.worker.terminate();
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      target.inflight.set(id, {
        resolve: (v) => {
          done();
          resolve(v as T);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      target.worker.postMessage({ id, op, args } satisfies WorkerRequest);
    });
  }

  classify(image: RawImage, opts?: ClassifyOptions, signal?: AbortSignal): Promise<ClassifyResult> {
    return this.call('classify', [image, opts], undefined, signal);
  }

  async annotate(image: RawImage, result: ClassifyResult, signal?: AbortSignal): Promise<Buffer> {
    return toBuffer(await this.call<Uint8Array>('annotate', [image, result], undefined, signal));
  }

  async saliency(image: RawImage, result: ClassifyResult, opts: SaliencyOptions, signal?: AbortSignal): Promise<Buffer> {
    return toBuffer(await this.call<Uint8Array>('saliency', [image, result, opts], undefined, signal));
  }

  models(): ServedModel[] {
    return this.served;
  }

  /** Tensors and heap of all workers together. */
  async memory(): Promise<PipelineMemory> {
    const all = await Promise.all(this.slots.map((s) => this.call<{ numTensors: number; numBytes: number; heapUsed: number }>('stats', [], s)));
    return all.reduce((acc, m) => ({ tensors: acc.tensors + m.numTensors, tensorBytes: acc.tensorBytes + m.numBytes, heapUsed: acc.heapUsed + m.heapUsed }), {
      tensors: 0,
      tensorBytes: 0,
      heapUsed: 0,
    });
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
