/**
 * Several classifiers run on the same faces in one batched step (the pipeline's emotion + gender).
 *
 * With onnxruntime models, the faces are cut into chunks (the runtimes' maxChunk) and the calling
 * thread and `workers` worker threads each take the next chunk and run it through every model: the
 * step uses all cores, with one hand-off per chunk rather than one per model. Measured here
 * (bench/classify.ts): mini-Xception emotion + gender at batch 32 runs 1.7x faster on the calling
 * thread plus one worker than on the calling thread alone. Otherwise (tfjs, or workers = 0) the
 * models run one after the other on the calling thread.
 */
import * as os from 'node:os';
import { settings } from '../settings.js';
import { OnnxRuntime } from './onnx.js';
import { OnnxWorkerPool, runSharded } from './onnx-pool.js';
import { averageMirrors, withMirrors } from './tta.js';
import type { InferenceRuntime } from './types.js';

export interface RuntimeGroup {
  readonly runtimes: readonly InferenceRuntime[];
  /** Worker threads sharing the batched step (0 = calling thread only). */
  readonly workers: number;
  /** batches[i] holds n inputs for runtimes[i]; returns each runtime's [n, classes] output. */
  run(batches: Float32Array[], n: number): Promise<Float32Array[]>;
  /** Stops the group's workers; the runtimes stay open (their owner disposes them). */
  dispose(): Promise<void>;
}

export interface RuntimeGroupOptions {
  /** Default: env FACECLS_ORT_WORKERS, else one fewer than the cores (at least 0). */
  workers?: number;
}

export function defaultGroupWorkers(): number {
  const n = settings.ortWorkers();
  if (n !== undefined) return n;
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(0, cores - 1);
}

function checkBatches(runtimes: readonly InferenceRuntime[], batches: Float32Array[], n: number): void {
  if (batches.length !== runtimes.length) throw new RangeError(`expected ${runtimes.length} batches, got ${batches.length}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`batch size must be a non-negative integer, got ${n}`);
  runtimes.forEach((rt, i) => {
    const { inputSize: s, channels: c } = rt.meta;
    if (batches[i].length < n * s * s * c)
      throw new RangeError(`batch ${i} holds ${batches[i].length} values, ${n} inputs of ${s}x${s}x${c} need ${n * s * s * c}`);
  });
}

/** Runs each model on the whole batch, one after the other, on the calling thread. */
class SequentialGroup implements RuntimeGroup {
  readonly workers = 0;
  constructor(readonly runtimes: readonly InferenceRuntime[]) {}
  async run(batches: Float32Array[], n: number): Promise<Float32Array[]> {
    checkBatches(this.runtimes, batches, n);
    const outs: Float32Array[] = [];
    for (const [i, rt] of this.runtimes.entries()) outs.push(await rt.run(batches[i], n));
    return outs;
  }
  async dispose(): Promise<void> {}
}

class OnnxGroup implements RuntimeGroup {
  private readonly pool: OnnxWorkerPool;
  private readonly chunk: number;

  constructor(
    readonly runtimes: readonly OnnxRuntime[],
    workers: number,
  ) {
    this.pool = new OnnxWorkerPool(
      runtimes.map((r) => r.bytes),
      runtimes[0].sessionOptions,
      workers,
    );
    this.chunk = Math.min(...runtimes.map((r) => r.maxChunk));
  }

  get workers(): number {
    return this.pool.size;
  }

  /**
   * Runtimes with flip TTA get [faces; mirrors] (2n rows, averaged after); when any does, the others
   * get their faces twice and keep the first n rows, so every model shares the same 2n chunks.
   */
  async run(batches: Float32Array[], n: number): Promise<Float32Array[]> {
    checkBatches(this.runtimes, batches, n);
    if (!this.runtimes.some((r) => r.tta === 'flip')) return this.runPlain(batches, n);
    const doubled = this.runtimes.map((r, i) => {
      const per = r.meta.inputSize * r.meta.inputSize * r.meta.channels;
      if (r.tta === 'flip') return withMirrors(batches[i], n, r.meta.inputSize, r.meta.channels);
      const x = new Float32Array(2 * n * per);
      x.set(batches[i].subarray(0, n * per));
      x.set(batches[i].subarray(0, n * per), n * per);
      return x;
    });
    const outs = await this.runPlain(doubled, 2 * n);
    return outs.map((y, i) => {
      const k = this.runtimes[i].meta.labels.length;
      return this.runtimes[i].tta === 'flip' ? averageMirrors(y, n, k) : y.slice(0, n * k);
    });
  }

  private runPlain(batches: Float32Array[], n: number): Promise<Float32Array[]> {
    return runSharded({
      batches,
      n,
      faceDims: this.runtimes.map((r) => [r.meta.inputSize, r.meta.inputSize, r.meta.channels]),
      classes: this.runtimes.map((r) => r.meta.labels.length),
      chunk: this.chunk,
      pool: this.pool,
      local: (m, data, k) => this.runtimes[m].runChunk(data, k),
    });
  }

  dispose(): Promise<void> {
    return this.pool.dispose();
  }
}

/** A group over open runtimes: parallel chunks across worker threads when all are onnxruntime. */
export function createRuntimeGroup(runtimes: readonly InferenceRuntime[], opts: RuntimeGroupOptions = {}): RuntimeGroup {
  const workers = opts.workers ?? defaultGroupWorkers();
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${workers}`);
  if (workers > 0 && runtimes.length > 0 && runtimes.every((r) => r instanceof OnnxRuntime)) return new OnnxGroup(runtimes as OnnxRuntime[], workers);
  return new SequentialGroup(runtimes);
}
