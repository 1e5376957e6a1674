/**
 * The image endpoints (POST /v1/classify, /v1/detect, /v1/annotate, /v1/saliency): admission to the
 * work queue before the body is read, then read, decode, classify and render inside a queue slot.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import type { ClassifierTask } from '../core/types.js';
import type { RawImage } from '../data/preprocess.js';
import { readImage } from './body.js';
import { httpErrorOf } from './errors.js';
import { HttpError } from './http-error.js';
import type { ServerLimits, ServerSecurity } from './limits.js';
import type { ClassifyOptions, ClassifyResult, SaliencyMethod, ServerPipeline } from './pipeline.js';
import { classifySchema, detectSchema, errorSchema, imageQuerySchema, saliencyQuerySchema } from './schemas.js';
import { addAccessCheck, rateLimitConfig } from './security.js';
import type { Ticket, WorkQueue } from './work-queue.js';

/** The routes that take an image and do work; the access check guards them. */
const IMAGE_ROUTES = new Set(['/v1/classify', '/v1/detect', '/v1/annotate', '/v1/saliency']);

/** Body size under which a refused request's connection is kept (Node discards the unread rest); over it the connection closes unread. */
const DRAIN_BYTES = 64 * 1024;

export interface ImageRouteContext {
  pipeline: ServerPipeline;
  queue: WorkQueue;
  limits: ServerLimits;
  security: ServerSecurity;
  /** True once the server is shutting down: new work is refused. */
  closing: () => boolean;
}

type Render<T> = (image: RawImage, result: ClassifyResult, signal: AbortSignal) => Promise<T>;

/** Queue tickets of admitted requests, and the admission and job steps that use them. */
function imageJobs(ctx: ImageRouteContext) {
  const { pipeline, queue, limits } = ctx;
  const tickets = new WeakMap<FastifyRequest, Ticket>();

  /**
   * Admission, after authentication and the rate limit and before the body is read: a request over the
   * queue's limit (or during shutdown) is answered 503 + Retry-After without reading or decoding it.
   */
  const admit = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const unread = (): Record<string, string> => {
      const len = Number(req.headers['content-length']);
      return Number.isFinite(len) && len <= DRAIN_BYTES ? {} : { connection: 'close' };
    };
    if (ctx.closing()) throw new HttpError(503, 'shutting_down', 'server is shutting down', { 'retry-after': '5', connection: 'close' });
    let ticket: Ticket;
    try {
      ticket = queue.admit();
    } catch (err) {
      if (err instanceof HttpError) {
        Object.assign(err.headers, unread());
        // Refusals are answered after a pause (never past Retry-After), holding only a timer: clients
        // retrying at once would otherwise spin the server with refusals.
        const delay = Math.min(limits.rejectDelayMs, Number(err.headers['retry-after'] ?? 1) * 1000);
        if (delay > 0 && !ctx.closing()) await new Promise((r) => setTimeout(r, delay));
      }
      throw err;
    }
    tickets.set(req, ticket);
    // The place is given back however the request ends (answered, failed, client gone).
    reply.raw.once('close', () => ticket.cancel());
  };

  /** The request's image in its admitted ticket (a failed read gives the place back). */
  const readAdmitted = async (req: FastifyRequest): Promise<{ ticket: Ticket; buf: Buffer }> => {
    const ticket = tickets.get(req);
    if (!ticket) throw new Error('request reached its handler without admission');
    try {
      return { ticket, buf: await readImage(req, limits) };
    } catch (err) {
      ticket.cancel();
      throw err;
    }
  };

  /**
   * Read the admitted request's image, then in its queue slot decode it, classify it and, when given,
   * render from the result (annotation, saliency): decoded pixels exist only while a slot is held.
   */
  const imageJob = async <T>(
    req: FastifyRequest,
    reply: FastifyReply,
    render: Render<T>,
    extra: ClassifyOptions = {},
  ): Promise<{ result: ClassifyResult; out: T }> => {
    const t0 = performance.now();
    const { ticket, buf } = await readAdmitted(req);
    const copts = classifyOptionsOf(req, extra);
    const times: Record<string, number> = {};
    let size = { width: 0, height: 0 };
    const done = await ticket.run(async (signal) => {
      const t1 = performance.now();
      times.wait = t1 - t0;
      const image = await decodeBody(buf, limits.maxPixels);
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
      if (performance.now() - t3 > 0.05) times.render = performance.now() - t3;
      return { result, out };
    });
    timing(reply, times);
    req.log.info(
      { ...size, faces: done.result.faces.length, ms: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v * 10) / 10])) },
      'image processed',
    );
    return done;
  };

  return { admit, imageJob };
}

/** The request's image decoded; a decoding failure is the client's (its reason's HTTP status). */
async function decodeBody(buf: Buffer, maxPixels: number): Promise<RawImage> {
  try {
    return await decodeImage(buf, { maxPixels, name: 'request body' });
  } catch (err) {
    if (err instanceof ImageDecodeError) throw httpErrorOf(err);
    throw err;
  }
}

/** The classify options of an image request: its query string over `extra`. */
function classifyOptionsOf(req: FastifyRequest, extra: ClassifyOptions): ClassifyOptions {
  const q = req.query as { minFaceSize?: number; crops?: boolean; age?: boolean };
  const copts: ClassifyOptions = { ...extra };
  if (q.minFaceSize !== undefined) copts.minFaceSize = q.minFaceSize;
  if (q.crops) copts.crops = true;
  if (q.age === false) copts.age = false;
  return copts;
}

function timing(reply: FastifyReply, parts: Record<string, number>): void {
  reply.header(
    'server-timing',
    Object.entries(parts)
      .map(([k, v]) => `${k};dur=${v.toFixed(1)}`)
      .join(', '),
  );
}

const IMAGE_ERRORS = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  408: errorSchema,
  413: errorSchema,
  415: errorSchema,
  429: errorSchema,
  503: errorSchema,
};

export function registerImageRoutes(app: FastifyInstance, ctx: ImageRouteContext): void {
  const { pipeline } = ctx;
  const { admit, imageJob } = imageJobs(ctx);
  addAccessCheck(app, ctx.security, IMAGE_ROUTES);
  const imageRoute = {
    preParsing: async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      await admit(req, reply);
      return payload;
    },
    ...rateLimitConfig(ctx.security),
  };

  app.post(
    '/v1/classify',
    { ...imageRoute, schema: { querystring: imageQuerySchema, response: { 200: classifySchema, ...IMAGE_ERRORS } } },
    async (req, reply) => {
      const { result } = await imageJob(req, reply, async () => undefined);
      return result;
    },
  );

  app.post('/v1/detect', { ...imageRoute, schema: { querystring: imageQuerySchema, response: { 200: detectSchema, ...IMAGE_ERRORS } } }, async (req, reply) => {
    const { result } = await imageJob(req, reply, async () => undefined, { detectOnly: true });
    return {
      width: result.width,
      height: result.height,
      faces: result.faces.map((f) => ({ box: f.box, score: f.score, ...(f.keypoints ? { keypoints: f.keypoints } : {}) })),
    };
  });

  app.post('/v1/annotate', { ...imageRoute, schema: { querystring: imageQuerySchema, response: IMAGE_ERRORS } }, async (req, reply) => {
    const { result, out: png } = await imageJob(req, reply, (image, r, signal) => pipeline.annotate(image, r, signal));
    reply.type('image/png').header('x-faces', String(result.faces.length));
    return png;
  });

  app.post(
    '/v1/saliency',
    { ...imageRoute, schema: { querystring: saliencyQuerySchema, response: { ...IMAGE_ERRORS, 501: errorSchema } } },
    async (req, reply) => {
      const saliency = pipeline.saliency?.bind(pipeline);
      if (!saliency) throw new HttpError(501, 'not_implemented', 'saliency maps are not available in this build');
      const q = req.query as { task: ClassifierTask; method: SaliencyMethod; class?: string };
      const { result, out: png } = await imageJob(req, reply, (image, r, signal) =>
        saliency(image, r, { task: q.task, method: q.method, className: q.class }, signal),
      );
      reply.type('image/png').header('x-faces', String(result.faces.length));
      return png;
    },
  );
}
