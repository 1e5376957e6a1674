/**
 * onnxruntime-node implementation of InferenceRuntime: the fast path in Node.
 * The session takes the same NHWC batch as tfjs (the exporter adds the transpose to NCHW).
 */
import type * as ortTypes from 'onnxruntime-node';
import { UserError, errorMessage } from '../errors.js';
import { settings } from '../settings.js';
import type { ModelMeta } from '../io/model-store.js';
import { OnnxWorkerPool, runSharded } from './onnx-pool.js';
import { averageMirrors, resolveTta, withMirrors, type Tta } from './tta.js';
import type { InferenceRuntime } from './types.js';

export interface OnnxRuntimeOptions {
  /**
   * Threads for one operator. Default: env FACECLS_ORT_THREADS, else 1, which measured fastest per
   * face here on 2 shared cores (see bench/classify.ts) and leaves a core for decoding and detection.
   */
  intraOpThreads?: number;
  /**
   * Largest batch given to one session.run; bigger batches run in chunks of this size (default 4),
   * because per-face time rises once a batch's feature maps outgrow the CPU's L2 cache: measured here
   * for mini-Xception 64x64, 0.33-0.35 ms/face at batch 1-4 but 0.87 at 8 and 1.1 at 32.
   */
  maxChunk?: number;
  /**
   * Extra sessions in worker threads that take chunks of big batches in parallel with the calling
   * thread (started on the first batch larger than maxChunk). Default: env FACECLS_ORT_WORKERS, else
   * 0 (everything on the calling thread): on this shared 2-core machine, under load from other
   * processes, a worker made batch-32 throughput worse (bench/classify.ts --workers to re-measure).
   */
  workers?: number;
  /** Test-time augmentation run() applies; default the model metadata's (src/runtime/tta.ts). */
  tta?: Tta;
}

/** Where the ONNX graph came from: a shipped model.onnx or an in-memory export. */
export type OnnxOrigin = 'shipped' | 'exported';

type Ort = typeof ortTypes;
let ortModule: Promise<Ort> | undefined;

/** Load onnxruntime-node lazily (native addon): a failure is reported once, as a UserError. */
export function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').catch((err: unknown) => {
    ortModule = undefined;
    throw new UserError(`onnxruntime-node cannot be loaded (${errorMessage(err)})`, { cause: err, reason: 'runtime-unavailable' });
  });
  return ortModule;
}

export function defaultIntraOpThreads(): number {
  return settings.ortThreads() ?? 1;
}

export function defaultWorkers(): number {
  return settings.ortWorkers() ?? 0;
}

export class OnnxRuntime implements InferenceRuntime {
  readonly name = 'onnx' as const;
  private disposed = false;

  private constructor(
    readonly meta: ModelMeta,
    private readonly ort: Ort,
    private readonly session: ortTypes.InferenceSession,
    readonly threads: number,
    readonly maxChunk: number,
    readonly origin: OnnxOrigin,
    /** The ONNX graph and session options, for worker sessions (here and in an OnnxGroup). */
    readonly bytes: Uint8Array,
    readonly sessionOptions: ortTypes.InferenceSession.SessionOptions,
    readonly tta: Tta,
    private readonly pool?: OnnxWorkerPool,
  ) {}

  /** Worker sessions used for big batches (0 = calling thread only). */
  get workers(): number {
    return this.pool?.size ?? 0;
  }

  /** A session over ONNX bytes from the exporter (or any graph with one NHWC float input). */
  static async create(
    bytes: Uint8Array,
    meta: ModelMeta,
    opts: OnnxRuntimeOptions = {},
    label = 'ONNX model',
    origin: OnnxOrigin = 'exported',
  ): Promise<OnnxRuntime> {
    const ort = await loadOrt();
    const threads = opts.intraOpThreads ?? defaultIntraOpThreads();
    const maxChunk = opts.maxChunk ?? 4;
    if (!Number.isInteger(maxChunk) || maxChunk < 1) throw new RangeError(`maxChunk must be a positive integer, got ${maxChunk}`);
    const tta = resolveTta(opts.tta, meta);
    const workers = opts.workers ?? defaultWorkers();
    if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${workers}`);
    const options: ortTypes.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      // Do not busy-wait between operators: the cores are shared with decoding and detection.
      // Flush denormal floats to zero: a model whose weights or activations decay into the
      // denormal range otherwise runs 10-30x slower on x86 (measured here on an L2-decayed model).
      extra: { session: { set_denormal_as_zero: '1', intra_op: { allow_spinning: threads > 1 ? '0' : '1' } } },
    };
    let session: ortTypes.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, options);
    } catch (err) {
      throw new UserError(`onnxruntime cannot load ${label}: ${errorMessage(err)}`, { cause: err, reason: 'invalid-file' });
    }
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      await session.release();
      throw new UserError(`${label} must have one input and one output, has ${session.inputNames.length} and ${session.outputNames.length}`, {
        reason: 'model-mismatch',
      });
    }
    return new OnnxRuntime(
      meta,
      ort,
      session,
      threads,
      maxChunk,
      origin,
      bytes,
      options,
      tta,
      workers > 0 ? new OnnxWorkerPool([bytes], options, workers) : undefined,
    );
  }

  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    if (this.disposed) throw new Error('OnnxRuntime.run after dispose');
    const { inputSize: s, channels: c, labels } = this.meta;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`batch size must be a non-negative integer, got ${n}`);
    if (n === 0) return new Float32Array(0);
    const len = n * s * s * c;
    if (batch.length < len) throw new RangeError(`batch holds ${batch.length} values, ${n} inputs of ${s}x${s}x${c} need ${len}`);
    if (this.tta === 'flip') return averageMirrors(await this.runPlain(withMirrors(batch, n, s, c), 2 * n), n, labels.length);
    return this.runPlain(batch, n);
  }

  /** run() without test-time augmentation: chunks on this thread and the workers. */
  private async runPlain(batch: Float32Array, n: number): Promise<Float32Array> {
    const { inputSize: s, channels: c, labels } = this.meta;
    if (n <= this.maxChunk) return this.runChunk(batch.subarray(0, n * s * s * c), n);
    const [out] = await runSharded({
      batches: [batch],
      n,
      faceDims: [[s, s, c]],
      classes: [labels.length],
      chunk: this.maxChunk,
      pool: this.pool,
      local: (_m, data, k) => this.runChunk(data, k),
    });
    return out;
  }

  /** One session.run on this thread for exactly n inputs (no chunking, no workers, no TTA). */
  async runChunk(data: Float32Array, n: number): Promise<Float32Array> {
    if (this.disposed) throw new Error('OnnxRuntime.run after dispose');
    const { inputSize: s, channels: c, labels } = this.meta;
    const input = new this.ort.Tensor('float32', data, [n, s, s, c]);
    try {
      const out = await this.session.run({ [this.session.inputNames[0]]: input });
      const values = out[this.session.outputNames[0]].data as Float32Array;
      if (values.length !== n * labels.length) throw new Error(`ONNX model returned ${values.length} values for ${n} inputs of ${labels.length} classes`);
      return values;
    } finally {
      input.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pool?.dispose();
    await this.session.release();
  }
}
