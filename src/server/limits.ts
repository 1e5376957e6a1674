/** Limits the server enforces on every request (kept apart from app.ts so the CLI can read defaults cheaply). */
import * as os from 'node:os';

export interface ServerLimits {
  /** Largest request body in bytes (raw or multipart file). */
  bodyLimit: number;
  /** Largest image in pixels (width x height), checked before decoding. */
  maxPixels: number;
  /** Longest time for one inference request, queueing included. */
  timeoutMs: number;
  /** Inference jobs running at once (default: cores, at most 4). */
  concurrency: number;
  /** Inference jobs waiting; more are refused with 503. */
  maxQueued: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  bodyLimit: 20 * 1024 * 1024,
  maxPixels: 40_000_000,
  timeoutMs: 30_000,
  // onnxruntime runs inference off the main thread, so a second job overlaps its JS pre/post-processing
  // (measured: about 1.6x the requests/s of one job at 8 connections on 2 cores; bench/server.ts).
  concurrency: Math.min(4, os.availableParallelism()),
  maxQueued: 64,
};
