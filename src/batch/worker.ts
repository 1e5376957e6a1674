/**
 * A batch worker: a BullMQ Worker on the "facecls" queue running the pipeline of `classify` (per
 * image: classifyFile, the function `classify` prints) and of `video` (per segment: processStream
 * from the segment's first frame) with the batch's options, then writing the job's results once
 * (store.ts). BullMQ does the rest: job locks renewed while a job runs, jobs of a worker that died
 * moved back to the queue by the stalled-job check of the others, retries with backoff.
 *
 * Transient failures (a download failing, a network file system error) throw, so that BullMQ retries
 * the job after a backoff; on the job's last attempt they become that file's error result instead.
 * Everything else that goes wrong with a file (corrupt, too large, missing) is its result at once.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { classifierOptions } from '../cli/pipeline-options.js';
import { errorMessage } from '../errors.js';
import { FaceClassifier } from '../pipeline/face-classifier.js';
import { classifyFile, isUrl, type ClassifyFileOptions, type FileResult, type InputItem } from '../pipeline/file-result.js';
import type { FrameResult } from '../pipeline/types.js';
import { processStream } from '../pipeline/video.js';
import { bullConnection } from './redis.js';
import { keys, QUEUE_NAME, readMeta, segmentHeader, writeResults, type BatchMeta, type JobData, type JobPayload, type SegmentJob } from './store.js';

export interface WorkerOptions {
  redisUrl: string;
  /** Our own connection (results, meta). */
  redis: Redis;
  /** Jobs at once in this process. */
  concurrency: number;
  /** A job whose worker stopped renewing its lock for this long is given to another worker. */
  stallSeconds: number;
  /** tfjs backend option (global --backend). */
  backend?: string;
  /** Shown by `batch status` and in logs. */
  name?: string;
  log?: (line: string) => void;
}

/** How many times a job may be taken back from a dead worker before it fails (its files then get that error). */
export const MAX_STALLED = 5;

/** Loaded pipelines by option set (a worker serves batches with different options). */
class ClassifierCache {
  private readonly loaded = new Map<string, Promise<FaceClassifier>>();
  constructor(private readonly backend?: string) {}

  get(meta: BatchMeta): Promise<FaceClassifier> {
    const key = JSON.stringify(meta.options.pipeline);
    let fc = this.loaded.get(key);
    if (!fc) {
      fc = FaceClassifier.load(classifierOptions(meta.options.pipeline, this.backend));
      fc.catch(() => this.loaded.delete(key));
      this.loaded.set(key, fc);
      // Keep the two most recent option sets.
      while (this.loaded.size > 2) {
        const [oldest, p] = this.loaded.entries().next().value as [string, Promise<FaceClassifier>];
        this.loaded.delete(oldest);
        void p.then((c) => c.dispose()).catch(() => {});
      }
    }
    return fc;
  }

  async dispose(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map((p) => p.then((c) => c.dispose()).catch(() => {})));
  }
}

export interface RunningWorker {
  worker: Worker<JobData>;
  /** Finish the running jobs, then stop (what SIGTERM does). */
  close(): Promise<void>;
  /** Resolves when the worker has stopped. */
  closed: Promise<void>;
  /** Resolves once the worker takes jobs (models for the next waiting batch loaded). */
  started: Promise<void>;
}

/** Each batch's metadata, read once (the last 100 batches kept). */
function batchMetaCache(redis: WorkerOptions['redis']): (batch: string) => Promise<BatchMeta | undefined> {
  const metas = new Map<string, Promise<BatchMeta | undefined>>();
  return (batch) => {
    let m = metas.get(batch);
    if (!m) {
      m = readMeta(redis, batch);
      metas.set(batch, m);
      if (metas.size > 100) metas.delete(metas.keys().next().value as string);
    }
    return m;
  };
}

/**
 * The job processor: classify a job's files (or video segment) with its batch's models and store the
 * results; the first job of a batch records the models' labels, and progress is logged every 10 s.
 */
function jobProcessor(
  opts: WorkerOptions,
  meta: (batch: string) => Promise<BatchMeta | undefined>,
  classifiers: ClassifierCache,
  log: (line: string) => void,
  name: string,
): (job: Job<JobData>) => Promise<void> {
  const labelled = new Set<string>();
  let filesDone = 0;
  let lastLog = 0;
  const t0 = Date.now();
  return async (job) => {
    const data = job.data;
    const m = await meta(data.batch);
    if (!m) return; // the batch was deleted: nothing to do
    const fc = await classifiers.get(m);
    if (!labelled.has(data.batch)) {
      labelled.add(data.batch);
      await opts.redis.hsetnx(
        keys.meta(data.batch),
        'labels',
        JSON.stringify({ emotion: fc.emotion?.meta.labels ?? [], gender: fc.gender?.meta.labels ?? [], age: fc.age !== undefined }),
      );
    }
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const progress = async (n: number) => job.updateProgress(n);
    const payload: JobPayload =
      data.kind === 'images'
        ? {
            kind: 'images',
            results: await classifyItems(fc, data.items, { crop: m.options.crops, transient: lastAttempt ? 'result' : 'throw', cwd: m.cwd }, progress),
          }
        : await runSegment(fc, data, m.options.smooth, m.cwd, progress);
    await writeResults(opts.redis, data, payload);
    filesDone += payload.kind === 'images' ? payload.results.length : 0;
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`facecls worker ${name}: ${filesDone} files in ${((Date.now() - t0) / 1000).toFixed(0)} s (batch ${data.batch}, job ${data.index + 1} of ${m.jobs})`);
    }
  };
}

export function startWorker(opts: WorkerOptions): RunningWorker {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const name = opts.name ?? `${os.hostname()}:${process.pid}`;
  const classifiers = new ClassifierCache(opts.backend);
  const meta = batchMetaCache(opts.redis);
  const processor = jobProcessor(opts, meta, classifiers, log, name);

  const worker = new Worker<JobData>(QUEUE_NAME, processor, {
    connection: bullConnection(opts.redisUrl, true),
    concurrency: opts.concurrency,
    lockDuration: opts.stallSeconds * 1000,
    stalledInterval: opts.stallSeconds * 1000,
    maxStalledCount: MAX_STALLED,
    name,
    autorun: false,
  });
  worker.on('error', (err) => log(`facecls worker ${name}: ${errorMessage(err)}`));
  worker.on('failed', (job, err) => {
    if (job) log(`facecls worker ${name}: job ${job.id} attempt ${job.attemptsMade} failed: ${errorMessage(err)}`);
  });
  let closing: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const close = () => {
    closing ??= (async () => {
      await started.catch(() => {});
      await worker.close();
      await classifiers.dispose();
      resolveClosed();
    })();
    return closing;
  };
  // Load the models for the next waiting job's batch before taking any job: loading blocks the event
  // loop for a while (the onnxruntime sessions), and a job held meanwhile could miss its lock renewal.
  const started = (async () => {
    await preloadNextBatch(opts.redisUrl, meta, classifiers);
    if (!closing) void worker.run().catch((err) => log(`facecls worker ${name}: ${errorMessage(err)}`));
    await worker.waitUntilReady();
  })();
  return { worker, close, closed, started };
}

/** Classify a job's files in order, reporting progress (files done) at most once a second. */
async function classifyItems(
  fc: FaceClassifier,
  items: readonly InputItem[],
  opts: ClassifyFileOptions,
  progress: (files: number) => Promise<unknown>,
): Promise<FileResult[]> {
  const results: FileResult[] = [];
  let reported = Date.now();
  for (const item of items) {
    results.push(await classifyFile(fc, item, opts));
    if (Date.now() - reported > 1000) {
      reported = Date.now();
      await progress(results.length);
    }
  }
  return results;
}

/** Load the models of the next waiting job's batch (a load error is left for that job to report). */
async function preloadNextBatch(redisUrl: string, meta: (batch: string) => Promise<BatchMeta | undefined>, classifiers: ClassifierCache): Promise<void> {
  const peek = new Queue<JobData>(QUEUE_NAME, { connection: bullConnection(redisUrl, true), skipMetasUpdate: true });
  try {
    const [next] = await peek.getWaiting(0, 0);
    const m = next && (await meta(next.data.batch));
    if (m) await classifiers.get(m).catch(() => {}); // a load error shows up in the job again
  } finally {
    await peek.close();
  }
}

/** One time segment of a video through processStream (tracks and smoothing restart at its start). */
async function runSegment(fc: FaceClassifier, data: SegmentJob, smooth: number, cwd: string, progress: (frames: number) => Promise<void>): Promise<JobPayload> {
  // With smoothing, start window - 1 frames early so the first frames of the segment are smoothed
  // over the same frames as in an unsegmented run; those warm-up frames belong to the previous segment.
  const warm = data.segment > 0 ? Math.min(smooth - 1, data.startFrame) : 0;
  const frames: FrameResult[] = [];
  let reported = Date.now();
  let pending: Promise<void> | undefined;
  const summary = await processStream(fc, {
    inputArgs: ['-i', isUrl(data.file) ? data.file : path.resolve(cwd, data.file)],
    label: `video "${data.file}"`,
    width: data.width,
    height: data.height,
    fps: data.fps,
    startFrame: data.startFrame - warm,
    maxFrames: data.frames === undefined ? undefined : data.frames + warm,
    window: smooth,
    onFrame: (r) => {
      if (r.frame >= data.startFrame) frames.push(r);
      if (Date.now() - reported > 1000 && !pending) {
        reported = Date.now();
        pending = progress(frames.length).finally(() => (pending = undefined));
      }
    },
  });
  await pending;
  const payload: JobPayload = { ...segmentHeader(data), frames };
  if (summary.error) payload.error = summary.error;
  return payload;
}
