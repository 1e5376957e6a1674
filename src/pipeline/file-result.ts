/**
 * One input file -> one result object: what `facecls classify --json` prints per file and what the
 * batch workers (src/batch) store per file. A file that cannot be processed gives `{file, error}`;
 * nothing else is thrown, except, on request, failures that may pass on their own (a network error,
 * an HTTP 5xx, an I/O error of a network file system), so that a job queue can retry them.
 *
 * Inputs are local paths or http(s) URLs (downloaded into memory, at most MAX_DOWNLOAD_BYTES).
 */
import * as path from 'node:path';
import { ImageDecodeError } from '../data/decode.js';
import { UserError, errorMessage } from '../errors.js';
import type { FaceClassifier } from './face-classifier.js';
import type { FaceResult } from './types.js';

export interface FileResult {
  file: string;
  width?: number;
  height?: number;
  faces?: FaceResult[];
  error?: string;
}

/** An input as listed: its name and, when already known to be unusable, why. */
export interface InputItem {
  file: string;
  error?: string;
}

/** Largest download accepted for an http(s) image input. */
export const MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024;

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** A failure that may not happen again (network, server overload, flaky storage): worth a retry. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** errno codes of I/O failures that are not a property of the file itself. */
const TRANSIENT_CODES = new Set([
  'EIO',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'ESTALE',
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** True for failures worth retrying (see TransientError). */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const code = errnoCode(err);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/** Download an http(s) input. 4xx answers and oversized bodies are user errors; the rest is transient. */
export async function fetchInput(url: string, timeoutMs = 120_000): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    throw new TransientError(`cannot download "${url}": ${errorMessage((err as { cause?: unknown }).cause ?? err)}`, { cause: err });
  }
  if (!res.ok) {
    const why = `cannot download "${url}": HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    await res.body?.cancel();
    if (res.status >= 500 || res.status === 408 || res.status === 429) throw new TransientError(why);
    throw new UserError(why);
  }
  const declared = Number(res.headers.get('content-length'));
  if (declared > MAX_DOWNLOAD_BYTES) {
    await res.body?.cancel();
    throw new UserError(`cannot download "${url}": ${declared} bytes exceeds the ${MAX_DOWNLOAD_BYTES}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_DOWNLOAD_BYTES) throw new UserError(`cannot download "${url}": more than the ${MAX_DOWNLOAD_BYTES}-byte limit`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new TransientError(`cannot download "${url}": ${errorMessage(err)}`, { cause: err });
  }
  return Buffer.concat(chunks, size);
}

export interface ClassifyFileOptions {
  /** Inputs are face crops: no detection. */
  crop?: boolean;
  /** Detection only: boxes, scores and keypoints, no classification. */
  detectOnly?: boolean;
  /**
   * 'result' (default): every failure becomes `{file, error}`. 'throw': transient failures
   * (isTransient) are thrown instead, for a caller that retries (the batch worker).
   */
  transient?: 'result' | 'throw';
  /** Directory that relative paths are relative to (default: the process's); results keep the name as listed. */
  cwd?: string;
}

/** Classify one listed input into its result object (the `classify --json` line). */
export async function classifyFile(fc: FaceClassifier, item: InputItem, opts: ClassifyFileOptions = {}): Promise<FileResult> {
  if (item.error) return { file: item.file, error: item.error };
  try {
    const input = isUrl(item.file) ? await fetchInput(item.file) : opts.cwd ? path.resolve(opts.cwd, item.file) : item.file;
    const { faces, width, height } = await fc.classifyTimed(input, { crop: opts.crop, detectOnly: opts.detectOnly, name: item.file });
    return { file: item.file, width, height, faces };
  } catch (err) {
    const cause = err instanceof ImageDecodeError ? ((err as { cause?: unknown }).cause ?? err) : err;
    if (opts.transient === 'throw' && isTransient(cause)) throw err instanceof TransientError ? err : new TransientError(errorMessage(err), { cause: err });
    // A listed path that does not exist reads as classify's expansion of it says.
    if (!isUrl(item.file) && errnoCode(cause) === 'ENOENT') return { file: item.file, error: 'no such file' };
    // Any other failure is reported against its file; the batch goes on.
    return { file: item.file, error: err instanceof UserError ? errorMessage(err) : `cannot process "${item.file}": ${errorMessage(err)}` };
  }
}
