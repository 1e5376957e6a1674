/**
 * The facecls HTTP service (fastify): image endpoints, model cards, health, OpenAPI, and the web page
 * with its assets, all served cross-origin isolated. Models are loaded once by the caller and passed
 * in as a ServerPipeline; every inference goes through one admission queue.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import { UserError } from '../errors.js';
import type { RawImage } from '../data/preprocess.js';
import { HttpError, type ErrorBody } from './http-error.js';
import type { ClassifyOptions, ClassifyResult, SaliencyMethod, ServerPipeline } from './pipeline.js';
import { classifySchema, detectSchema, errorSchema, healthSchema, imageQuerySchema, modelsSchema, openApiDocument, saliencyQuerySchema } from './schemas.js';
import { buildFileTable, contentType, modelUrl, type FileTable } from './static-files.js';
import { WorkQueue } from './work-queue.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';

export { DEFAULT_LIMITS, type ServerLimits } from './limits.js';

export interface ServerOptions {
  pipeline: ServerPipeline;
  limits?: Partial<ServerLimits>;
  /** fastify/pino logger options, or false for silence. */
  logger?: FastifyServerOptions['logger'];
  version?: string;
}

export interface FaceclsServer {
  app: FastifyInstance;
  queue: WorkQueue;
  limits: ServerLimits;
  /** Stop accepting work, finish what runs, close sockets. Idempotent. */
  close(): Promise<void>;
}

/** Headers that make the page cross-origin isolated (SharedArrayBuffer, wasm threads). */
const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

function errorBody(statusCode: number, error: string, message: string): ErrorBody {
  return { error, message, statusCode };
}

/** Map a decode failure to the status that names it: too many pixels 413, not an image 415, else 400. */
function decodeFailure(err: ImageDecodeError): HttpError {
  if (/pixel limit/i.test(err.message)) return new HttpError(413, 'image_too_large', err.message);
  if (/not an image|unsupported|unrecognised/i.test(err.message)) return new HttpError(415, 'unsupported_image', err.message);
  if (/empty/i.test(err.message)) return new HttpError(400, 'empty_body', err.message);
  return new HttpError(400, 'corrupt_image', err.message);
}

export async function buildServer(opts: ServerOptions): Promise<FaceclsServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const pipeline = opts.pipeline;
  const queue = new WorkQueue({ concurrency: limits.concurrency, maxQueued: limits.maxQueued, timeoutMs: limits.timeoutMs });
  const version = opts.version ?? '0.0.0';
  const started = Date.now();
  let closing = false;

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: limits.bodyLimit,
    // Time to receive a whole request; slow uploads get 408 instead of holding a socket forever.
    requestTimeout: limits.timeoutMs + 5_000,
    connectionTimeout: limits.timeoutMs + 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, useDefaults: true, allErrors: true } },
  });

  // Image bodies arrive as raw bytes; no other body type (JSON, text) is accepted anywhere.
  app.removeAllContentTypeParsers();
  const rawParser = (_req: FastifyRequest, body: Buffer | string, done: (err: null, body: Buffer | string) => void) => done(null, body);
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer', bodyLimit: limits.bodyLimit }, rawParser);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: limits.bodyLimit }, rawParser);
  await app.register(multipart, { limits: { fileSize: limits.bodyLimit, files: 1, fields: 10, fieldSize: 1024, parts: 12 } });

  app.addHook('onSend', async (_req, reply) => {
    reply.headers(ISOLATION_HEADERS);
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(404, 'not_found', `no route for ${req.method} ${req.url.split('?')[0]}`));
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string }, req, reply) => {
    if (err instanceof HttpError) {
      if (err.statusCode >= 500) req.log.warn({ err: err.message }, 'request refused');
      reply.headers(err.headers).code(err.statusCode).send(errorBody(err.statusCode, err.code, err.message));
      return;
    }
    if (err instanceof ImageDecodeError) {
      const h = decodeFailure(err);
      reply.code(h.statusCode).send(errorBody(h.statusCode, h.code, h.message));
      return;
    }
    if (err instanceof UserError) {
      // A request the pipeline cannot honour (e.g. an unknown class name).
      reply.code(400).send(errorBody(400, 'invalid_request', err.message));
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
      FST_PARTS_LIMIT: [413, 'payload_too_large', 'multipart request has too many parts'],
      FST_FILES_LIMIT: [413, 'payload_too_large', 'multipart request has more than one file'],
      FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', `unsupported content type "${req.headers['content-type'] ?? ''}": send image bytes (image/* or application/octet-stream) or multipart/form-data with one file`],
      FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'empty_body', 'request body is empty'],
      FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'unsupported_media_type', 'the request is not multipart'],
    };
    const k = err.code ? known[err.code] : undefined;
    if (k) {
      reply.code(k[0]).send(errorBody(k[0], k[1], k[2]));
      return;
    }
    if (status >= 400 && status < 500) {
      reply.code(status).send(errorBody(status, err.code ?? 'bad_request', err.message));
      return;
    }
    req.log.error({ err }, 'internal error');
    reply.code(500).send(errorBody(500, 'internal_error', 'internal server error (see the server log)'));
  });

  /** The image bytes of a request: the raw body, or the single file of a multipart upload. */
  async function readImage(req: FastifyRequest): Promise<Buffer> {
    let buf: Buffer | undefined;
    if (req.isMultipart()) {
      const file = await req.file();
      if (!file) throw new HttpError(400, 'missing_file', 'multipart request has no file part: send the image as a file field (e.g. -F image=@face.jpg)');
      buf = await file.toBuffer();
      if (file.file.truncated) throw new HttpError(413, 'payload_too_large', `uploaded file "${file.filename}" exceeds the ${limits.bodyLimit}-byte limit`);
    } else {
      if (req.body !== undefined && !Buffer.isBuffer(req.body)) {
        throw new HttpError(415, 'unsupported_media_type', `unsupported content type "${req.headers['content-type'] ?? ''}": send image bytes or multipart/form-data`);
      }
      buf = req.body;
    }
    if (!buf || buf.length === 0) throw new HttpError(400, 'empty_body', 'request body is empty: send an image');
    return buf;
  }

  async function decode(req: FastifyRequest): Promise<RawImage> {
    const buf = await readImage(req);
    try {
      return await decodeImage(buf, { maxPixels: limits.maxPixels, name: 'request body' });
    } catch (err) {
      if (err instanceof ImageDecodeError) throw decodeFailure(err);
      throw err;
    }
  }

  function refuseIfClosing(): void {
    if (closing) throw new HttpError(503, 'shutting_down', 'server is shutting down', { 'retry-after': '5', connection: 'close' });
  }

  function timing(reply: FastifyReply, parts: Record<string, number>): void {
    reply.header('server-timing', Object.entries(parts).map(([k, v]) => `${k};dur=${v.toFixed(1)}`).join(', '));
  }

  /**
   * Decode the request's image, then in one admitted job classify it and, when given, render from the
   * result (annotation, saliency), so a request holds one queue slot from start to end.
   */
  async function imageJob<T>(
    req: FastifyRequest,
    reply: FastifyReply,
    render: (image: RawImage, result: ClassifyResult, signal: AbortSignal) => Promise<T>,
    extra: ClassifyOptions = {},
  ): Promise<{ result: ClassifyResult; out: T }> {
    refuseIfClosing();
    const t0 = performance.now();
    const image = await decode(req);
    const t1 = performance.now();
    const q = req.query as { minFaceSize?: number; crops?: boolean };
    const copts: ClassifyOptions = { ...extra };
    if (q.minFaceSize !== undefined) copts.minFaceSize = q.minFaceSize;
    if (q.crops) copts.crops = true;
    let t2 = 0;
    const done = await queue.run(async (signal) => {
      const result = await pipeline.classify(image, copts, signal);
      t2 = performance.now();
      // Past the time limit the client already has its 503: render nothing for it.
      signal.throwIfAborted();
      return { result, out: await render(image, result, signal) };
    });
    const t3 = performance.now();
    const times: Record<string, number> = { decode: t1 - t0, classify: t2 - t1 };
    if (t3 - t2 > 0.05) times.render = t3 - t2;
    timing(reply, times);
    req.log.info({ width: image.width, height: image.height, faces: done.result.faces.length, ms: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v * 10) / 10])) }, 'image processed');
    return done;
  }

  const image415 = { 400: errorSchema, 413: errorSchema, 415: errorSchema, 503: errorSchema };

  app.post('/v1/classify', { schema: { querystring: imageQuerySchema, response: { 200: classifySchema, ...image415 } } }, async (req, reply) => {
    const { result } = await imageJob(req, reply, async () => undefined);
    return result;
  });

  app.post('/v1/detect', { schema: { querystring: imageQuerySchema, response: { 200: detectSchema, ...image415 } } }, async (req, reply) => {
    const { result } = await imageJob(req, reply, async () => undefined, { detectOnly: true });
    return { width: result.width, height: result.height, faces: result.faces.map((f) => ({ box: f.box, score: f.score, ...(f.keypoints ? { keypoints: f.keypoints } : {}) })) };
  });

  app.post('/v1/annotate', { schema: { querystring: imageQuerySchema, response: image415 } }, async (req, reply) => {
    const { result, out: png } = await imageJob(req, reply, (image, r, signal) => pipeline.annotate(image, r, signal));
    reply.type('image/png').header('x-faces', String(result.faces.length));
    return png;
  });

  app.post('/v1/saliency', { schema: { querystring: saliencyQuerySchema, response: { ...image415, 501: errorSchema } } }, async (req, reply) => {
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

  const openapi = openApiDocument(limits, version);
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

  return { app, queue, limits, close };
}
