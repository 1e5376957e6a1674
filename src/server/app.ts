/**
 * The facecls HTTP service (fastify): image endpoints, model cards, health, OpenAPI, and the web page
 * with its assets, all served cross-origin isolated. Models are loaded once by the caller and passed
 * in as a ServerPipeline; every inference goes through one admission queue.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import { UserError } from '../errors.js';
import { httpErrorOf } from './errors.js';
import type { RawImage } from '../data/preprocess.js';
import { HttpError, type ErrorBody } from './http-error.js';
import type { ClassifyOptions, ClassifyResult, SaliencyMethod, ServerPipeline } from './pipeline.js';
import { classifySchema, detectSchema, errorSchema, healthSchema, imageQuerySchema, modelsSchema, openApiDocument, saliencyQuerySchema } from './schemas.js';
import { buildFileTable, contentType, modelUrl, type FileTable } from './static-files.js';
import { WorkQueue, type Ticket } from './work-queue.js';
import { DEFAULT_LIMITS, DEFAULT_SECURITY, type ServerLimits, type ServerSecurity } from './limits.js';

export { DEFAULT_LIMITS, DEFAULT_SECURITY, type ServerLimits, type ServerSecurity } from './limits.js';

export interface ServerOptions {
  pipeline: ServerPipeline;
  limits?: Partial<ServerLimits>;
  /** API key, CORS origins, rate limit (defaults: no key, no CORS, DEFAULT_SECURITY.rateLimit per minute). */
  security?: Partial<ServerSecurity>;
  /** fastify/pino logger options, or false for silence. */
  logger?: FastifyServerOptions['logger'];
  version?: string;
}

export interface FaceclsServer {
  app: FastifyInstance;
  queue: WorkQueue;
  limits: ServerLimits;
  security: ServerSecurity;
  /** Stop accepting work, finish what runs, close sockets. Idempotent. */
  close(): Promise<void>;
}

/**
 * Content Security Policy of the page and API. The page is a module script from /app/, runs the tfjs
 * WebAssembly backend ('wasm-unsafe-eval') with threads (emscripten starts its workers from blob: URLs),
 * draws camera frames and dropped files (blob:, data: images), sets bar widths with inline styles, and
 * fetches only from this server. Nothing may frame it.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'", "'wasm-unsafe-eval'", 'blob:'],
  workerSrc: ["'self'", 'blob:'],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  mediaSrc: ["'self'", 'blob:', 'mediastream:'],
  connectSrc: ["'self'", 'blob:', 'data:'],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  upgradeInsecureRequests: null,
};

function errorBody(statusCode: number, error: string, message: string): ErrorBody {
  return { error, message, statusCode };
}

/** The media type of a content-type header without parameters, lower case ('' when absent). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** Raw image bodies: image/<subtype> or application/octet-stream, with any parameters. */
export function isImageMediaType(type: string): boolean {
  return /^image\/[a-z0-9][\w.+-]*$/.test(type) || type === 'application/octet-stream';
}

/** Constant-time comparison of a presented key with the configured one (hashes make lengths equal). */
export function keyMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1].trim();
  }
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x.trim() : undefined;
}

/**
 * Read a request body of at most `limit` bytes. A declared length over the limit is refused before
 * reading; a body that sends nothing for `idleMs` is a 408 (stalled upload).
 */
function readBody(payload: NodeJS.ReadableStream, limit: number, idleMs: number, declared: number | undefined): Promise<Buffer> {
  if (declared !== undefined && declared > limit) {
    return Promise.reject(new HttpError(413, 'payload_too_large', `request body of ${declared} bytes exceeds the ${limit}-byte limit`, { connection: 'close' }));
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
        () => finish(new HttpError(408, 'request_timeout', `the request body stalled: no bytes for ${idleMs} ms (${total} received)`, { connection: 'close' })),
        idleMs,
      );
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) return finish(new HttpError(413, 'payload_too_large', `request body exceeds the ${limit}-byte limit`, { connection: 'close' }));
      chunks.push(chunk);
      arm();
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(new HttpError(400, 'body_aborted', `the request body could not be read: ${err.message}`, { connection: 'close' }));
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
        reject(new HttpError(408, 'request_timeout', `the upload stalled: no bytes for ${idleMs} ms`, { connection: 'close' }));
      }
    }, every);
  });
  stalled.catch(() => undefined);
  return { stalled, stop: () => clearInterval(timer) };
}

const IMAGE_ROUTES = new Set(['/v1/classify', '/v1/annotate', '/v1/saliency']);

/** Body size under which a refused request's connection is kept (Node discards the unread rest); over it the connection closes unread. */
const DRAIN_BYTES = 64 * 1024;

export async function buildServer(opts: ServerOptions): Promise<FaceclsServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const security: ServerSecurity = { ...DEFAULT_SECURITY, ...opts.security };
  const pipeline = opts.pipeline;
  const queue = new WorkQueue({ concurrency: limits.concurrency, maxQueued: limits.maxQueued, timeoutMs: limits.timeoutMs });
  const version = opts.version ?? '0.0.0';
  const started = Date.now();
  let closing = false;
  const tickets = new WeakMap<FastifyRequest, Ticket>();

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: limits.bodyLimit,
    // Backstops of the server itself (the body's own stall limit, bodyTimeoutMs, answers 408 in JSON first).
    requestTimeout: limits.timeoutMs + 5_000,
    connectionTimeout: limits.timeoutMs + 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, useDefaults: true, allErrors: true } },
    // Requests Node's HTTP parser refuses before fastify sees them answer in the same JSON shape.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, text, code, message] =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'request_timeout', 'the request was not received in time']
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? [431, 'Request Header Fields Too Large', 'headers_too_large', 'the request line and headers exceed the size limit']
            : [400, 'Bad Request', 'bad_request', 'malformed HTTP request'];
      const body = JSON.stringify(errorBody(status, code, message));
      if (socket.writable) socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
      socket.destroy(err);
    },
  });

  // Security headers first, so that every answer carries them, refusals included.
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    // Cross-origin isolation (SharedArrayBuffer for the wasm threads).
    crossOriginEmbedderPolicy: { policy: 'require-corp' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    // Plain HTTP: HSTS belongs to the TLS front end, if any.
    strictTransportSecurity: false,
    xFrameOptions: { action: 'deny' },
  });
  const corsAny = security.corsOrigins.includes('*');
  if (security.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: corsAny ? '*' : security.corsOrigins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['content-type', 'authorization', 'x-api-key'],
      exposedHeaders: ['retry-after', 'x-faces', 'server-timing', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600,
    });
  }
  await app.register(rateLimit, {
    global: false,
    hook: 'onRequest',
    keyGenerator: (req) => req.ip,
    errorResponseBuilder: (_req, ctx) =>
      new HttpError(429, 'rate_limited', `too many requests from this client: more than ${ctx.max} per ${security.rateWindowMs / 1000} s (serve --rate-limit); retry after ${ctx.after}`),
  });

  // Image bodies arrive as raw bytes (image/* or application/octet-stream, any parameters); multipart
  // has its own parser; nothing else (JSON, text) is accepted anywhere. Bodies are read here, after the
  // request was admitted (preParsing), with the byte limit and a stall limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (req, payload, done) => {
    const type = mediaType(req.headers['content-type']);
    if (!isImageMediaType(type)) {
      done(new HttpError(415, 'unsupported_media_type', `unsupported content type "${req.headers['content-type'] ?? ''}": send image bytes (image/* or application/octet-stream) or multipart/form-data with one file`, { connection: 'close' }), undefined);
      return;
    }
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    readBody(payload, limits.bodyLimit, limits.bodyTimeoutMs, Number.isFinite(declared) ? declared : undefined).then(
      (buf) => done(null, buf),
      (err: Error) => done(err, undefined),
    );
  });
  await app.register(multipart, { limits: { fileSize: limits.bodyLimit, files: 2, fields: 10, fieldSize: 1024, parts: 12, headerPairs: 50 } });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(404, 'not_found', `no route for ${req.method} ${req.url.split('?')[0]}`));
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string }, req, reply) => {
    if (err instanceof HttpError) {
      if (err.statusCode >= 500) req.log.warn({ err: err.message }, 'request refused');
      reply.headers(err.headers).code(err.statusCode).send(errorBody(err.statusCode, err.code, err.message));
      return;
    }
    if (err instanceof UserError) {
      const h = httpErrorOf(err);
      reply.code(h.statusCode).send(errorBody(h.statusCode, h.code, h.message));
      return;
    }
    if (err.validation) {
      reply.code(400).send(errorBody(400, 'invalid_request', `invalid ${err.validationContext ?? 'request'}: ${err.message}`));
      return;
    }
    const status = err.statusCode ?? 500;
    const known: Record<string, [number, string, string]> = {
      FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', `request body exceeds the ${limits.bodyLimit}-byte limit`],
      FST_REQ_FILE_TOO_LARGE: [413, 'payload_too_large', `uploaded file exceeds the ${limits.bodyLimit}-byte limit`],
      FST_PARTS_LIMIT: [413, 'too_many_parts', 'multipart request has more than 12 parts: send one file field (and at most 10 small fields)'],
      FST_FILES_LIMIT: [400, 'multiple_files', 'multipart request has more than one file: send exactly one image per request'],
      FST_FIELDS_LIMIT: [413, 'too_many_fields', 'multipart request has more than 10 form fields: send one file field (and at most 10 small fields)'],
      FST_PROTO_VIOLATION: [400, 'malformed_multipart', 'multipart field name not allowed'],
      FST_INVALID_JSON_FIELD_ERROR: [400, 'malformed_multipart', 'a multipart field declared as JSON is not valid JSON'],
      FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', `unsupported content type "${req.headers['content-type'] ?? ''}": send image bytes (image/* or application/octet-stream) or multipart/form-data with one file`],
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_request', 'the content-length header does not match the body'],
      FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'empty_body', 'request body is empty'],
      FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'unsupported_media_type', 'the request is not multipart'],
    };
    const k = err.code ? known[err.code] : undefined;
    if (k) {
      reply.code(k[0]).send(errorBody(k[0], k[1], k[2]));
      return;
    }
    if (status >= 400 && status < 500) {
      reply.code(status).send(errorBody(status, err.code ? err.code.toLowerCase().replace(/^fst_(err_)?/, '') : 'bad_request', err.message));
      return;
    }
    req.log.error({ err }, 'internal error');
    reply.code(500).send(errorBody(500, 'internal_error', 'internal server error (see the server log)'));
  });

  // Who may post work, before anything else is done for the request.
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST' || !IMAGE_ROUTES.has(req.url.split('?')[0])) return;
    // A browser page of another origin may send simple requests (a form post) without a preflight:
    // refuse them unless that origin is allowed (CORS). Same-origin and non-browser clients pass.
    const origin = req.headers.origin;
    if (typeof origin === 'string' && !corsAny && !security.corsOrigins.includes(origin)) {
      const self = `${req.protocol}://${req.headers.host ?? ''}`;
      if (origin !== self) throw new HttpError(403, 'cross_origin_forbidden', `requests from the web origin ${origin} are not allowed (serve --cors-origin <origin> to allow one)`, { connection: 'close' });
    }
    if (security.apiKey !== undefined) {
      const key = presentedKey(req);
      if (key === undefined) throw new HttpError(401, 'unauthorized', 'this server requires an API key: send Authorization: Bearer <key> or X-API-Key: <key>', { 'www-authenticate': 'Bearer', connection: 'close' });
      if (!keyMatches(key, security.apiKey)) throw new HttpError(401, 'unauthorized', 'the API key is not valid', { 'www-authenticate': 'Bearer error="invalid_token"', connection: 'close' });
    }
  });

  /**
   * Admission, after authentication and the rate limit and before the body is read: a request over the
   * queue's limit (or during shutdown) is answered 503 + Retry-After without reading or decoding it.
   */
  const admit = async (req: FastifyRequest, reply: FastifyReply) => {
    const unread = (): Record<string, string> => {
      const len = Number(req.headers['content-length']);
      return Number.isFinite(len) && len <= DRAIN_BYTES ? {} : { connection: 'close' };
    };
    if (closing) throw new HttpError(503, 'shutting_down', 'server is shutting down', { 'retry-after': '5', connection: 'close' });
    let ticket: Ticket;
    try {
      ticket = queue.admit();
    } catch (err) {
      if (err instanceof HttpError) {
        Object.assign(err.headers, unread());
        // Refusals are answered after a pause (never past Retry-After), holding only a timer: clients
        // retrying at once would otherwise spin the server with refusals.
        const delay = Math.min(limits.rejectDelayMs, Number(err.headers['retry-after'] ?? 1) * 1000);
        if (delay > 0 && !closing) await new Promise((r) => setTimeout(r, delay));
      }
      throw err;
    }
    tickets.set(req, ticket);
    // The place is given back however the request ends (answered, failed, client gone).
    reply.raw.once('close', () => ticket.cancel());
  };

  function timing(reply: FastifyReply, parts: Record<string, number>): void {
    reply.header('server-timing', Object.entries(parts).map(([k, v]) => `${k};dur=${v.toFixed(1)}`).join(', '));
  }

  /** The encoded image of an admitted request: the raw body, or the single file of a multipart upload. */
  async function readImage(req: FastifyRequest): Promise<Buffer> {
    let buf: Buffer | undefined;
    if (req.isMultipart()) {
      const watch = stallWatch(req, limits.bodyTimeoutMs);
      try {
        buf = await Promise.race([readMultipartFile(req), watch.stalled]);
      } finally {
        watch.stop();
      }
    } else {
      if (req.body !== undefined && !Buffer.isBuffer(req.body)) {
        throw new HttpError(415, 'unsupported_media_type', `unsupported content type "${req.headers['content-type'] ?? ''}": send image bytes or multipart/form-data`);
      }
      buf = req.body;
    }
    if (!buf || buf.length === 0) throw new HttpError(400, 'empty_body', 'request body is empty: send an image');
    return buf;
  }

  /** The one file of a multipart form; a second file, too many fields or a broken form are errors. */
  async function readMultipartFile(req: FastifyRequest): Promise<Buffer> {
    let file: { name: string; data: Buffer } | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type !== 'file') continue;
        if (file) {
          throw new HttpError(400, 'multiple_files', `multipart request has more than one file ("${file.name}", then "${part.fieldname}"): send exactly one image per request`, { connection: 'close' });
        }
        const data = await part.toBuffer();
        if (part.file.truncated) throw new HttpError(413, 'payload_too_large', `uploaded file "${part.filename}" exceeds the ${limits.bodyLimit}-byte limit`, { connection: 'close' });
        file = { name: part.fieldname, data };
      }
    } catch (err) {
      if (err instanceof HttpError || (err as { code?: string }).code?.startsWith('FST_')) throw err;
      // busboy's own parse errors (no boundary, a cut part, bad headers) are the client's.
      throw new HttpError(400, 'malformed_multipart', `malformed multipart body: ${(err as Error).message}`, { connection: 'close' });
    }
    if (!file) throw new HttpError(400, 'missing_file', 'multipart request has no file part: send the image as a file field (e.g. -F image=@face.jpg)');
    return file.data;
  }

  async function decodeBody(buf: Buffer): Promise<RawImage> {
    try {
      return await decodeImage(buf, { maxPixels: limits.maxPixels, name: 'request body' });
    } catch (err) {
      if (err instanceof ImageDecodeError) throw httpErrorOf(err);
      throw err;
    }
  }

  /**
   * Read the admitted request's image, then in its queue slot decode it, classify it and, when given,
   * render from the result (annotation, saliency): decoded pixels exist only while a slot is held.
   */
  async function imageJob<T>(
    req: FastifyRequest,
    reply: FastifyReply,
    render: (image: RawImage, result: ClassifyResult, signal: AbortSignal) => Promise<T>,
    extra: ClassifyOptions = {},
  ): Promise<{ result: ClassifyResult; out: T }> {
    const ticket = tickets.get(req);
    if (!ticket) throw new Error('request reached its handler without admission');
    const t0 = performance.now();
    let buf: Buffer;
    try {
      buf = await readImage(req);
    } catch (err) {
      ticket.cancel();
      throw err;
    }
    const q = req.query as { minFaceSize?: number; crops?: boolean };
    const copts: ClassifyOptions = { ...extra };
    if (q.minFaceSize !== undefined) copts.minFaceSize = q.minFaceSize;
    if (q.crops) copts.crops = true;
    const times: Record<string, number> = {};
    let size = { width: 0, height: 0 };
    const done = await ticket.run(async (signal) => {
      const t1 = performance.now();
      times.wait = t1 - t0;
      let image: RawImage | undefined = await decodeBody(buf);
      size = { width: image.width, height: image.height };
      const t2 = performance.now();
      times.decode = t2 - t1;
      signal.throwIfAborted();
      const result = await pipeline.classify(image, copts, signal);
      const t3 = performance.now();
      times.classify = t3 - t2;
      // Past the time limit the client already has its 503: render nothing for it.
      signal.throwIfAborted();
      const out = await render(image, result, signal);
      image = undefined;
      if (performance.now() - t3 > 0.05) times.render = performance.now() - t3;
      return { result, out };
    });
    timing(reply, times);
    req.log.info({ ...size, faces: done.result.faces.length, ms: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v * 10) / 10])) }, 'image processed');
    return done;
  }

  const imageRoute = {
    preParsing: async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      await admit(req, reply);
      return payload;
    },
    config: security.rateLimit > 0 ? { rateLimit: { max: security.rateLimit, timeWindow: security.rateWindowMs } } : {},
  };

  const image415 = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 408: errorSchema, 413: errorSchema, 415: errorSchema, 429: errorSchema, 503: errorSchema };

  app.post('/v1/classify', { ...imageRoute, schema: { querystring: imageQuerySchema, response: { 200: classifySchema, ...image415 } } }, async (req, reply) => {
    const { result } = await imageJob(req, reply, async () => undefined);
    return result;
  });

  app.post('/v1/detect', { ...imageRoute, schema: { querystring: imageQuerySchema, response: { 200: detectSchema, ...image415 } } }, async (req, reply) => {
    const { result } = await imageJob(req, reply, async () => undefined, { detectOnly: true });
    return { width: result.width, height: result.height, faces: result.faces.map((f) => ({ box: f.box, score: f.score, ...(f.keypoints ? { keypoints: f.keypoints } : {}) })) };
  });

  app.post('/v1/annotate', { ...imageRoute, schema: { querystring: imageQuerySchema, response: image415 } }, async (req, reply) => {
    const { result, out: png } = await imageJob(req, reply, (image, r, signal) => pipeline.annotate(image, r, signal));
    reply.type('image/png').header('x-faces', String(result.faces.length));
    return png;
  });

  app.post('/v1/saliency', { ...imageRoute, schema: { querystring: saliencyQuerySchema, response: { ...image415, 501: errorSchema } } }, async (req, reply) => {
    const saliency = pipeline.saliency?.bind(pipeline);
    if (!saliency) throw new HttpError(501, 'not_implemented', 'saliency maps are not available in this build');
    const q = req.query as { task: 'emotion' | 'gender'; method: SaliencyMethod; class?: string };
    const { result, out: png } = await imageJob(req, reply, (image, r, signal) => saliency(image, r, { task: q.task, method: q.method, className: q.class }, signal));
    reply.type('image/png').header('x-faces', String(result.faces.length));
    return png;
  });

  app.get('/v1/models', { schema: { response: { 200: modelsSchema } } }, async () => ({
    detector: pipeline.detectorName,
    saliency: typeof pipeline.saliency === 'function',
    models: pipeline.models().map((m) => ({ role: m.role, format: m.format, url: modelUrl(m.role), meta: m.meta, info: m.info, card: m.card })),
  }));

  app.get('/healthz', { schema: { response: { 200: healthSchema, 503: healthSchema } } }, async (_req, reply) => {
    const mu = process.memoryUsage();
    const local = tf.memory();
    const mem = pipeline.memory ? await pipeline.memory().catch(() => undefined) : undefined;
    reply.code(closing ? 503 : 200);
    return {
      status: closing ? 'shutting-down' : 'ok',
      uptimeSeconds: (Date.now() - started) / 1000,
      backend: tf.getBackend(),
      detector: pipeline.detectorName,
      queue: { active: queue.active, queued: queue.queued, completed: queue.completed, rejected: queue.rejected, timedOut: queue.timedOut },
      memory: {
        rss: mu.rss,
        heapUsed: mu.heapUsed + (mem?.heapUsed ?? 0),
        tensors: local.numTensors + (mem?.tensors ?? 0),
        tensorBytes: local.numBytes + (mem?.tensorBytes ?? 0),
      },
    };
  });

  const openapi = openApiDocument(limits, version, { apiKey: security.apiKey !== undefined, rateLimit: security.rateLimit, rateWindowMs: security.rateWindowMs });
  app.get('/openapi.json', async () => openapi);

  // The page, its bundle, the wasm binaries and the model files: a fixed table, no path from the URL
  // reaches the file system.
  const files: FileTable = buildFileTable(pipeline.models());
  const sendFile = async (req: FastifyRequest, reply: FastifyReply) => {
    const urlPath = req.url.split('?')[0];
    const file = files.get(urlPath);
    if (!file) {
      if (urlPath === '/') {
        reply.code(503).send(errorBody(503, 'page_not_built', 'the web page bundle is missing: run `npm run build` (builds dist/web)'));
        return;
      }
      reply.code(404).send(errorBody(404, 'not_found', `no file ${urlPath}`));
      return;
    }
    const stat = await fs.promises.stat(file);
    reply.type(contentType(file)).header('content-length', stat.size).header('cache-control', urlPath.startsWith('/wasm/') ? 'public, max-age=86400' : 'no-cache');
    return reply.send(fs.createReadStream(file));
  };
  app.get('/', sendFile);
  app.get('/app/*', sendFile);
  app.get('/wasm/*', sendFile);
  app.get('/models/*', sendFile);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      await app.close(); // stops accepting, waits for in-flight requests
      await queue.drain();
    })();
    return closed;
  };

  return { app, queue, limits, security, close };
}
