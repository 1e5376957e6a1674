/**
 * Request bodies of the image endpoints: raw image bytes (image/* or application/octet-stream) read
 * with a byte limit and a stall limit, or one file of a multipart form. Nothing else (JSON, text) is
 * accepted anywhere.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { HttpError } from './http-error.js';
import type { ServerLimits } from './limits.js';

/** The media type of a content-type header without parameters, lower case ('' when absent). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** Raw image bodies: image/<subtype> or application/octet-stream, with any parameters. */
export function isImageMediaType(type: string): boolean {
  return /^image\/[a-z0-9][\w.+-]*$/.test(type) || type === 'application/octet-stream';
}

/** The 415 answer to a body that is neither image bytes nor multipart. */
export function unsupportedMediaTypeMessage(header: string | undefined): string {
  return `unsupported content type "${header ?? ''}": send image bytes (image/* or application/octet-stream) or multipart/form-data with one file`;
}

const CLOSE = { connection: 'close' };

/**
 * Read a request body of at most `limit` bytes. A declared length over the limit is refused before
 * reading; a body that sends nothing for `idleMs` is a 408 (stalled upload).
 */
export function readBody(payload: NodeJS.ReadableStream, limit: number, idleMs: number, declared: number | undefined): Promise<Buffer> {
  if (declared !== undefined && declared > limit) {
    return Promise.reject(new HttpError(413, 'payload_too_large', `request body of ${declared} bytes exceeds the ${limit}-byte limit`, { ...CLOSE }));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      payload.removeListener('aborted', onAborted);
      if (err) {
        payload.pause();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(new HttpError(408, 'request_timeout', `the request body stalled: no bytes for ${idleMs} ms (${total} received)`, { ...CLOSE })),
        idleMs,
      );
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) return finish(new HttpError(413, 'payload_too_large', `request body exceeds the ${limit}-byte limit`, { ...CLOSE }));
      chunks.push(chunk);
      arm();
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(new HttpError(400, 'body_aborted', `the request body could not be read: ${err.message}`, { ...CLOSE }));
    const onAborted = () => onError(new Error('the client aborted the upload'));
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('aborted', onAborted);
    arm();
  });
}

/**
 * Rejects with 408 when the request's socket receives nothing for `idleMs` (multipart uploads, read by
 * busboy, are watched from outside: the socket's byte counter).
 */
function stallWatch(req: FastifyRequest, idleMs: number): { stalled: Promise<never>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    const socket = req.raw.socket;
    let last = socket.bytesRead;
    let lastChange = Date.now();
    const every = Math.max(20, Math.min(1000, idleMs / 4));
    timer = setInterval(() => {
      if (req.raw.readableEnded) return;
      if (socket.bytesRead !== last) {
        last = socket.bytesRead;
        lastChange = Date.now();
      } else if (Date.now() - lastChange >= idleMs) {
        clearInterval(timer);
        reject(new HttpError(408, 'request_timeout', `the upload stalled: no bytes for ${idleMs} ms`, { ...CLOSE }));
      }
    }, every);
  });
  stalled.catch(() => undefined);
  return { stalled, stop: () => clearInterval(timer) };
}

/**
 * The body parsers: image bytes for image/* and application/octet-stream (read here, after the request
 * was admitted in preParsing, with the byte limit and a stall limit), @fastify/multipart for forms, a
 * 415 for anything else.
 */
export async function registerBodyParsers(app: FastifyInstance, limits: ServerLimits): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (req, payload, done) => {
    const type = mediaType(req.headers['content-type']);
    if (!isImageMediaType(type)) {
      done(new HttpError(415, 'unsupported_media_type', unsupportedMediaTypeMessage(req.headers['content-type']), { ...CLOSE }), undefined);
      return;
    }
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    readBody(payload, limits.bodyLimit, limits.bodyTimeoutMs, Number.isFinite(declared) ? declared : undefined).then(
      (buf) => done(null, buf),
      (err: Error) => done(err, undefined),
    );
  });
  await app.register(multipart, { limits: { fileSize: limits.bodyLimit, files: 2, fields: 10, fieldSize: 1024, parts: 12, headerPairs: 50 } });
}

/** The one file of a multipart form; a second file, too many fields or a broken form are errors. */
async function readMultipartFile(req: FastifyRequest, bodyLimit: number): Promise<Buffer> {
  let file: { name: string; data: Buffer } | undefined;
  try {
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue;
      if (file) {
        throw new HttpError(
          400,
          'multiple_files',
          `multipart request has more than one file ("${file.name}", then "${part.fieldname}"): send exactly one image per request`,
          { ...CLOSE },
        );
      }
      const data = await part.toBuffer();
      if (part.file.truncated)
        throw new HttpError(413, 'payload_too_large', `uploaded file "${part.filename}" exceeds the ${bodyLimit}-byte limit`, { ...CLOSE });
      file = { name: part.fieldname, data };
    }
  } catch (err) {
    if (err instanceof HttpError || (err as { code?: string }).code?.startsWith('FST_')) throw err;
    // busboy's own parse errors (no boundary, a cut part, bad headers) are the client's.
    throw new HttpError(400, 'malformed_multipart', `malformed multipart body: ${(err as Error).message}`, { ...CLOSE });
  }
  if (!file) throw new HttpError(400, 'missing_file', 'multipart request has no file part: send the image as a file field (e.g. -F image=@face.jpg)');
  return file.data;
}

/** The encoded image of an admitted request: the raw body, or the single file of a multipart upload. */
export async function readImage(req: FastifyRequest, limits: ServerLimits): Promise<Buffer> {
  let buf: Buffer | undefined;
  if (req.isMultipart()) {
    const watch = stallWatch(req, limits.bodyTimeoutMs);
    try {
      buf = await Promise.race([readMultipartFile(req, limits.bodyLimit), watch.stalled]);
    } finally {
      watch.stop();
    }
  } else {
    if (req.body !== undefined && !Buffer.isBuffer(req.body)) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `unsupported content type "${req.headers['content-type'] ?? ''}": send image bytes or multipart/form-data`,
      );
    }
    buf = req.body;
  }
  if (!buf || buf.length === 0) throw new HttpError(400, 'empty_body', 'request body is empty: send an image');
  return buf;
}
