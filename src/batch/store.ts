/**
 * What a batch keeps in Redis besides BullMQ's own job keys (queue "facecls"):
 *
 *   facecls:batch:<id>           hash  meta (JSON: entries, jobs, options), labels (the models' labels)
 *   facecls:batch:<id>:results   hash  job index -> gzip(JSON) of that job's results
 *   facecls:batch:<id>:counters  hash  jobs, files, failed, frames done; first / last write (ms)
 *
 * A job is a chunk of consecutive image entries or one time segment of a video; job i has the BullMQ
 * id `<batch>.<i>`, and jobs are numbered in input order, so reading results 0, 1, 2, ... gives every
 * file in input order. A job's results are written by one Lua script that sets the field only if it is
 * absent (HSETNX) and counts it in the same step: a job that runs twice (its worker was killed after
 * writing, before BullMQ recorded the completion) still has its files written and counted once.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import type { FileResult, InputItem } from '../pipeline/file-result.js';
import type { FrameResult } from '../pipeline/types.js';
import type { PipelineCliOptions } from '../cli/pipeline-options.js';

export const QUEUE_NAME = 'facecls';

export const keys = {
  meta: (id: string) => `facecls:batch:${id}`,
  results: (id: string) => `facecls:batch:${id}:results`,
  counters: (id: string) => `facecls:batch:${id}:counters`,
};

/** The options a batch runs with: those of `classify` / `video`, checked at submit. */
export interface BatchOptions {
  pipeline: PipelineCliOptions;
  /** Inputs are face crops (classify --crops). */
  crops: boolean;
  /** Track smoothing window in frames (video --smooth). */
  smooth: number;
}

export interface BatchMeta {
  id: string;
  /** ms since the epoch. */
  created: number;
  entries: number;
  images: number;
  videos: number;
  jobs: number;
  chunkSize: number;
  segmentSeconds: number;
  /** Directory of the submitting command: relative input paths are relative to it. */
  cwd: string;
  options: BatchOptions;
}

export interface ImagesJob {
  batch: string;
  index: number;
  kind: 'images';
  items: InputItem[];
}

export interface SegmentJob {
  batch: string;
  index: number;
  kind: 'segment';
  file: string;
  segment: number;
  segments: number;
  startFrame: number;
  /** Frames in this segment; undefined for the last one, which reads to the end of the stream. */
  frames?: number;
  fps: number;
  width: number;
  height: number;
}

export type JobData = ImagesJob | SegmentJob;

export const jobId = (batch: string, index: number) => `${batch}.${index}`;

export interface ImagesPayload {
  kind: 'images';
  results: FileResult[];
}

export interface SegmentPayload {
  kind: 'segment';
  file: string;
  segment: number;
  segments: number;
  fps: number;
  width: number;
  height: number;
  frames: FrameResult[];
  error?: string;
}

export type JobPayload = ImagesPayload | SegmentPayload;

/** What a segment's results repeat of its job: the video, which segment, and the video's rate and size. */
export function segmentHeader(data: SegmentJob): Omit<SegmentPayload, 'frames' | 'error'> {
  return { kind: 'segment', file: data.file, segment: data.segment, segments: data.segments, fps: data.fps, width: data.width, height: data.height };
}

/** The results of every file in a job that failed as a whole (its error repeated per file). */
export function failedPayload(data: JobData, error: string): JobPayload {
  if (data.kind === 'images') return { kind: 'images', results: data.items.map((it) => ({ file: it.file, error: it.error ?? error })) };
  return { ...segmentHeader(data), frames: [], error };
}

const WRITE_ONCE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'jobs', 1)
redis.call('HINCRBY', KEYS[2], 'frames', ARGV[5])
redis.call('HSETNX', KEYS[2], 'first', ARGV[6])
redis.call('HSET', KEYS[2], 'last', ARGV[6])
local files = tonumber(ARGV[3])
local failed = tonumber(ARGV[4])
if ARGV[7] ~= '' then
  local done = redis.call('HINCRBY', KEYS[2], 'seg:' .. ARGV[7], 1)
  if failed > 0 then redis.call('HSET', KEYS[2], 'segfail:' .. ARGV[7], 1) end
  if done < tonumber(ARGV[8]) then return 1 end
  files = 1
  failed = redis.call('HEXISTS', KEYS[2], 'segfail:' .. ARGV[7])
  redis.call('HDEL', KEYS[2], 'seg:' .. ARGV[7], 'segfail:' .. ARGV[7])
end
redis.call('HINCRBY', KEYS[2], 'files', files)
redis.call('HINCRBY', KEYS[2], 'failed', failed)
return 1
`;

/**
 * Store a job's results unless they are already stored; count its files (a video counts once, when
 * its last segment is written). Returns false when the results were already there.
 */
export async function writeResults(redis: Redis, data: JobData, payload: JobPayload): Promise<boolean> {
  const blob = gzipSync(JSON.stringify(payload), { level: 1 });
  let files = 0;
  let failed: number;
  let frames = 0;
  let video = '';
  let segments = 0;
  if (payload.kind === 'images') {
    files = payload.results.length;
    failed = payload.results.filter((r) => r.error).length;
  } else {
    frames = payload.frames.length;
    failed = payload.error ? 1 : 0;
    video = payload.file + '\u0000' + (data.kind === 'segment' ? data.index - data.segment : 0);
    segments = payload.segments;
  }
  const r = await redis.eval(
    WRITE_ONCE,
    2,
    keys.results(data.batch),
    keys.counters(data.batch),
    String(data.index),
    blob,
    files,
    failed,
    frames,
    Date.now(),
    video,
    segments,
  );
  return r === 1;
}

export function decodePayload(blob: Buffer): JobPayload {
  return JSON.parse(gunzipSync(blob).toString('utf8')) as JobPayload;
}

export async function readMeta(redis: Redis, id: string): Promise<BatchMeta | undefined> {
  const s = await redis.hget(keys.meta(id), 'meta');
  return s ? (JSON.parse(s) as BatchMeta) : undefined;
}

export interface Labels {
  emotion: string[];
  gender: string[];
  /** Whether the workers estimate age (CSV age columns); absent in batches from before the age task. */
  age?: boolean;
}

export async function readLabels(redis: Redis, id: string): Promise<Labels | undefined> {
  const s = await redis.hget(keys.meta(id), 'labels');
  return s ? (JSON.parse(s) as Labels) : undefined;
}

export interface Counters {
  jobs: number;
  files: number;
  failed: number;
  frames: number;
  first?: number;
  last?: number;
}

export async function readCounters(redis: Redis, id: string): Promise<Counters> {
  const [jobs, files, failed, frames, first, last] = await redis.hmget(keys.counters(id), 'jobs', 'files', 'failed', 'frames', 'first', 'last');
  const n = (v: string | null) => (v === null ? 0 : Number(v));
  return {
    jobs: n(jobs),
    files: n(files),
    failed: n(failed),
    frames: n(frames),
    first: first === null ? undefined : Number(first),
    last: last === null ? undefined : Number(last),
  };
}
