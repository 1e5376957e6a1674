/**
 * Reading a batch back: its status (from the counters the result writes keep, so it answers at once
 * for any batch size) and its results in input order, exactly one per file (images as `classify
 * --json` prints them; a video as one object holding its frames, the `video --jsonl` lines).
 *
 * Jobs that BullMQ gave up on (a worker died on them MAX_STALLED times, or they kept failing) have
 * their files written as errors here, through the same write-once script, the first time a status
 * or results call sees them.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { iou } from '../detect/nms.js';
import { UserError } from '../errors.js';
import type { FileResult } from '../pipeline/file-result.js';
import type { FrameResult } from '../pipeline/types.js';
import { bullConnection } from './redis.js';
import {
  decodePayload,
  failedPayload,
  keys,
  QUEUE_NAME,
  readCounters,
  readMeta,
  writeResults,
  type BatchMeta,
  type JobData,
  type SegmentPayload,
} from './store.js';

/** A video's line in the results: size, rate and every frame (tracks renumbered across segments). */
export interface VideoResult {
  file: string;
  width: number;
  height: number;
  fps: number;
  frames: FrameResult[];
  error?: string;
}

export type BatchLine = FileResult | VideoResult;

export function isVideoResult(r: BatchLine): r is VideoResult {
  return Array.isArray((r as VideoResult).frames);
}

export interface BatchStatus {
  id: string;
  created: string;
  entries: number;
  done: number;
  failed: number;
  pending: number;
  jobs: number;
  jobsDone: number;
  frames: number;
  filesPerSecond: number | null;
  etaSeconds: number | null;
  workers: number;
  finished: boolean;
}

export class BatchReader {
  readonly queue: Queue<JobData>;
  constructor(
    readonly redis: Redis,
    redisUrl: string,
  ) {
    this.queue = new Queue<JobData>(QUEUE_NAME, { connection: bullConnection(redisUrl, false), skipMetasUpdate: true });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  async meta(id: string): Promise<BatchMeta> {
    if (!/^[\w-]{1,64}$/.test(id)) throw new UserError(`not a batch id: "${id}"`);
    const m = await readMeta(this.redis, id);
    if (!m) throw new UserError(`no batch "${id}" on this Redis server`);
    return m;
  }

  /** Write error results for this batch's jobs that BullMQ failed for good; returns how many. */
  async settleFailed(id: string): Promise<number> {
    let settled = 0;
    for (let start = 0; ; start += 500) {
      const failed = await this.queue.getJobs(['failed'], start, start + 499, true);
      if (failed.length === 0) break;
      for (const job of failed) {
        if (!job || job.data?.batch !== id) continue;
        const why = job.failedReason || 'job failed';
        await writeResults(
          this.redis,
          job.data,
          failedPayload(
            job.data,
            /stalled/i.test(why)
              ? `a worker stopped (killed or crashed) while processing this file or its neighbours, ${job.attemptsStarted ?? '?'} times: ${why}`
              : why,
          ),
        );
        await job.remove().catch(() => {});
        settled++;
      }
      if (failed.length < 500) break;
    }
    return settled;
  }

  async status(id: string, now = Date.now()): Promise<BatchStatus> {
    const meta = await this.meta(id);
    let c = await readCounters(this.redis, id);
    if (c.jobs < meta.jobs && (await this.settleFailed(id)) > 0) c = await readCounters(this.redis, id);
    const workers = await this.queue.getWorkersCount().catch(() => 0);
    const finished = c.jobs >= meta.jobs;
    const elapsed = c.first === undefined ? 0 : ((finished ? (c.last ?? now) : now) - c.first) / 1000;
    const rate = c.files > 0 && elapsed > 0 ? c.files / elapsed : null;
    const jobRate = c.jobs > 0 && elapsed > 0 ? c.jobs / elapsed : null;
    return {
      id,
      created: new Date(meta.created).toISOString(),
      entries: meta.entries,
      done: c.files,
      failed: c.failed,
      pending: meta.entries - c.files,
      jobs: meta.jobs,
      jobsDone: c.jobs,
      frames: c.frames,
      filesPerSecond: rate,
      etaSeconds: finished ? 0 : jobRate ? (meta.jobs - c.jobs) / jobRate : null,
      workers,
      finished,
    };
  }

  /**
   * Every file's result in input order. With `wait`, results not written yet are waited for (polling
   * every `pollMs`); without, a batch that is not finished is refused.
   */
  async *results(id: string, opts: { wait: boolean; pollMs?: number; onWait?: (s: BatchStatus) => void }): AsyncGenerator<BatchLine> {
    const meta = await this.meta(id);
    if (!opts.wait) {
      const s = await this.status(id);
      if (!s.finished) throw new UserError(`batch ${id} is not finished: ${s.pending} of ${s.entries} file(s) pending`, { reason: 'not-finished' });
    }
    let video: SegmentPayload[] = [];
    const WINDOW = 64;
    for (let start = 0; start < meta.jobs; start += WINDOW) {
      const idx = Array.from({ length: Math.min(WINDOW, meta.jobs - start) }, (_, k) => String(start + k));
      let blobs = await this.redis.hmgetBuffer(keys.results(id), ...idx);
      while (blobs.some((b) => b === null)) {
        if (!opts.wait) throw new UserError(`batch ${id}: results of job ${start + blobs.indexOf(null)} are missing`);
        await this.settleFailed(id);
        opts.onWait?.(await this.status(id));
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
        blobs = await this.redis.hmgetBuffer(keys.results(id), ...idx);
      }
      for (const blob of blobs) {
        const p = decodePayload(blob as Buffer);
        if (p.kind === 'images') {
          yield* p.results;
          continue;
        }
        video.push(p);
        if (p.segment === p.segments - 1) {
          yield mergeSegments(video);
          video = [];
        }
      }
    }
  }
}

/**
 * One video's segments -> its result: frames in order (frame numbers and times are those of the
 * whole stream); a segment's tracks continue the previous segment's where a face of its first frame
 * overlaps (IoU >= 0.3, best pairs first) a face of the previous segment's last frame, other tracks
 * get new ids, so ids are unique in the video and numbered in order of appearance. A track that
 * leaves for a few frames across a segment edge restarts with a new id. A broken segment ends the
 * video there with its error (as `facecls video` stops at the break).
 */
export function mergeSegments(segments: SegmentPayload[], iouThreshold = 0.3): VideoResult {
  const first = segments[0];
  const out: VideoResult = { file: first.file, width: first.width, height: first.height, fps: first.fps, frames: [] };
  let nextId = 1;
  let prevLast: FrameResult | undefined;
  for (const seg of segments) {
    const map = new Map<number, number>();
    const head = seg.frames[0];
    if (prevLast && head && head.frame === prevLast.frame + 1) {
      const pairs: Array<[number, number, number]> = [];
      head.faces.forEach((f, i) =>
        prevLast!.faces.forEach((g, j) => {
          const o = iou(f.box, g.box);
          if (o >= iouThreshold) pairs.push([o, i, j]);
        }),
      );
      pairs.sort((a, b) => b[0] - a[0]);
      const usedPrev = new Set<number>();
      for (const [, i, j] of pairs) {
        const local = head.faces[i].track;
        if (map.has(local) || usedPrev.has(j)) continue;
        map.set(local, prevLast.faces[j].track);
        usedPrev.add(j);
      }
    }
    for (const fr of seg.frames) {
      for (const f of fr.faces) {
        let g = map.get(f.track);
        if (g === undefined) {
          g = nextId++;
          map.set(f.track, g);
        }
        f.track = g;
      }
      out.frames.push(fr);
    }
    if (seg.frames.length) prevLast = seg.frames[seg.frames.length - 1];
    if (seg.error) {
      out.error =
        segments.length > 1
          ? `${seg.error} (segment ${seg.segment + 1} of ${seg.segments}, from ${out.frames.length - seg.frames.length} frame(s) in)`
          : seg.error;
      break;
    }
  }
  return out;
}
