/**
 * Submitting a batch: the entries (images, videos, or both) become BullMQ jobs in input order: runs
 * of consecutive images in chunks of `chunkSize`, each video in time segments of `segmentSeconds`
 * (probed with ffprobe here, so that different workers can take its segments at once). Jobs retry
 * with exponential backoff when a worker reports a transient failure; completed jobs are removed
 * from BullMQ at once (their results live in the batch's results hash), so a queued batch of a
 * million files costs Redis about the size of its file names.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import { isUrl, type InputItem } from '../pipeline/file-result.js';
import { probeVideo } from '../pipeline/ffmpeg.js';
import { bullConnection } from './redis.js';
import { jobId, keys, QUEUE_NAME, type BatchMeta, type BatchOptions, type JobData } from './store.js';

export const VIDEO_EXTENSIONS = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.mpg',
  '.mpeg',
  '.ts',
  '.mts',
  '.m2ts',
  '.flv',
  '.wmv',
  '.3gp',
  '.ogv',
]);

/**
 * Images per job. A job costs a few Redis round trips (fetch and lock, results script, completion),
 * about 2-3 ms on a local network, against ~30 ms per photo: at 1 image per job that is ~10% of the
 * work (`node dist/bench/batch.js --chunks 1,8,32,128`: 1 was the slowest), at 32 well under 1%.
 * Larger chunks gain nothing more and lose more work to a killed worker, retry more files with a
 * flaky download and balance worse over the workers at the end of a batch. Figures: docs/batch.md.
 */
export const DEFAULT_CHUNK_SIZE = 32;
/** Seconds of video per job. */
export const DEFAULT_SEGMENT_SECONDS = 60;
/** Attempts of a job that fails transiently (a download or network file system error, Redis gone). */
export const JOB_ATTEMPTS = 5;
/** First retry delay; doubled on each further attempt. */
export const BACKOFF_MS = 2_000;

export const JOB_OPTIONS: JobsOptions = {
  attempts: JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: BACKOFF_MS },
  removeOnComplete: true,
  removeOnFail: false,
};

export function isVideoName(file: string): boolean {
  let p = file;
  if (isUrl(file)) {
    try {
      p = new URL(file).pathname;
    } catch {
      return false;
    }
  }
  return VIDEO_EXTENSIONS.has(path.extname(p).toLowerCase());
}

export interface SubmitOptions {
  options: BatchOptions;
  chunkSize?: number;
  segmentSeconds?: number;
}

export interface Submitted {
  id: string;
  jobs: number;
  entries: number;
  images: number;
  videos: number;
}

export function newBatchId(): string {
  return Date.now().toString(36) + randomBytes(3).toString('hex');
}

/** Split entries into job data, in input order (videos probed here). */
export function planJobs(batch: string, entries: InputItem[], chunkSize: number, segmentSeconds: number): { jobs: JobData[]; images: number; videos: number } {
  const jobs: JobData[] = [];
  let run: InputItem[] = [];
  let images = 0;
  let videos = 0;
  const flush = () => {
    if (run.length) jobs.push({ batch, index: jobs.length, kind: 'images', items: run });
    run = [];
  };
  for (const item of entries) {
    if (item.error || !isVideoName(item.file)) {
      images++;
      run.push(item);
      if (run.length >= chunkSize) flush();
      continue;
    }
    videos++;
    let info;
    try {
      info = probeVideo(item.file);
    } catch (err) {
      // An unreadable video is a result with its error, like a bad image.
      run.push({ file: item.file, error: errorMessage(err) });
      if (run.length >= chunkSize) flush();
      continue;
    }
    flush();
    const per = Math.max(1, Math.round(segmentSeconds * info.fps));
    const segments = Math.max(1, Math.ceil((info.frames ?? 1) / per));
    for (let s = 0; s < segments; s++) {
      jobs.push({
        batch,
        index: jobs.length,
        kind: 'segment',
        file: item.file,
        segment: s,
        segments,
        startFrame: s * per,
        frames: s === segments - 1 ? undefined : per,
        fps: info.fps,
        width: info.width,
        height: info.height,
      });
    }
  }
  flush();
  return { jobs, images, videos };
}

/** Enqueue a batch and return its id; workers start on it at once. */
export async function submitBatch(redis: Redis, redisUrl: string, entries: InputItem[], opts: SubmitOptions): Promise<Submitted> {
  const id = newBatchId();
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const segmentSeconds = opts.segmentSeconds ?? DEFAULT_SEGMENT_SECONDS;
  const { jobs, images, videos } = planJobs(id, entries, chunkSize, segmentSeconds);
  const meta: BatchMeta = {
    id,
    created: Date.now(),
    entries: entries.length,
    images,
    videos,
    jobs: jobs.length,
    chunkSize,
    segmentSeconds,
    cwd: process.cwd(),
    options: opts.options,
  };
  await redis.hset(keys.meta(id), 'meta', JSON.stringify(meta));
  const queue = new Queue<JobData>(QUEUE_NAME, { connection: bullConnection(redisUrl, false) });
  try {
    for (let i = 0; i < jobs.length; i += 1000) {
      await queue.addBulk(jobs.slice(i, i + 1000).map((data) => ({ name: data.kind, data, opts: { ...JOB_OPTIONS, jobId: jobId(id, data.index) } })));
    }
  } finally {
    await queue.close();
  }
  return { id, jobs: jobs.length, entries: entries.length, images, videos };
}
