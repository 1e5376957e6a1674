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
  /** Requests admitted beyond the running ones (uploading or waiting); more are refused with 503 before their body is read. */
  maxQueued: number;
  /** A request body that sends no bytes for this long is answered 408 (a stalled upload). */
  bodyTimeoutMs: number;
  /**
   * A request refused because the queue is full is answered after this long (at most its Retry-After),
   * still unread: a client that retries at once then costs the server a timer instead of a busy loop of
   * refusals that would take CPU from the admitted requests. 0 answers at once.
   */
  rejectDelayMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  bodyLimit: 20 * 1024 * 1024,
  maxPixels: 40_000_000,
  timeoutMs: 30_000,
  // onnxruntime runs inference off the main thread, so a second job overlaps its JS pre/post-processing
  // (measured: about 1.6x the requests/s of one job at 8 connections on 2 cores; bench/server.ts).
  concurrency: Math.min(4, os.availableParallelism()),
  maxQueued: 64,
  bodyTimeoutMs: 10_000,
  rejectDelayMs: 1_000,
};

/**
 * Memory the admitted requests can hold at once, in bytes (documented in the README and OpenAPI):
 * every admitted request its body (at most bodyLimit), and only the running ones decoded pixels (at
 * most maxPixels x 4 bytes: decoding happens once a slot is free, never while waiting).
 */
export function admittedMemoryBound(l: ServerLimits): { bodies: number; pixels: number } {
  return { bodies: (l.concurrency + l.maxQueued) * l.bodyLimit, pixels: l.concurrency * l.maxPixels * 4 };
}

/** Security settings of the HTTP service. */
export interface ServerSecurity {
  /** Required on POST /v1/* as `Authorization: Bearer <key>` or `X-API-Key: <key>`; none = open. */
  apiKey?: string;
  /** Origins allowed to call the API from a browser (CORS); empty = none (same origin only); '*' = any. */
  corsOrigins: string[];
  /** Requests per client (IP address) and window on POST /v1/*; 0 = no limit. */
  rateLimit: number;
  rateWindowMs: number;
}

export const DEFAULT_SECURITY: ServerSecurity = {
  corsOrigins: [],
  // The web page in server mode posts a few frames a second; a script can post far more.
  rateLimit: 1200,
  rateWindowMs: 60_000,
};
