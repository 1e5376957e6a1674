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

/** The queue ticket of each admitted request, from admission to its handler. */
type Tickets = WeakMap<FastifyRequest, Ticket>;

/** Extra response headers for a refused request: close a connection whose unread body is large. */
function unreadBodyHeaders(req: FastifyRequest): Record<string, string> {
  const len = Number(req.headers['content-length']);
  return Number.isFinite(len) && len <= DRAIN_BYTES ? {} : { connection: 'close' };
}

/**
 * Admission, after authentication and the rate limit and before the body is read: a request over the
 * queue's limit (or during shutdown) is answered 503 + Retry-After without reading or decoding it.
 */
async function admit(ctx: ImageRouteContext, tickets: Tickets, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (ctx.closing()) throw new HttpError(503, 'shutting_down', 'server is shutting down', { 'retry-after': '5', connection: 'close' });
  let ticket: Ticket;
  try {
    ticket = ctx.queue.admit();
  } catch (err) {
    if (err instanceof HttpError) {
      Object.assign(err.headers, unreadBodyHeaders(req));
      // Refusals are answered after a pause (never past Retry-After), holding only a timer: clients
      // retrying at once would otherwise spin the server with refusals.
      const delay = Math.min(ctx.limits.rejectDelayMs, Number(err.headers['retry-after'] ?? 1) * 1000);
      if (delay > 0 && !ctx.closing()) await new Promise((r) => setTimeout(r, delay));
    }
    throw err;
  }
  tickets.set(req, ticket);
  // The place is given back however the request ends (answered, failed, client gone).
  reply.raw.once('close', () => ticket.cancel());
}

/** The request's image in its admitted ticket (a failed read gives the place back). */
async function readAdmitted(ctx: ImageRouteContext, tickets: Tickets, req: FastifyRequest): Promise<{ ticket: Ticket; buf: Buffer }> {
  const ticket = tickets.get(req);
  if (!ticket) throw new Error('request reached its handler without admission');
  try {
    return { ticket, buf: await readImage(req, ctx.limits) };
  } catch (err) {
    ticket.cancel();
    throw err;
  }
}

/** Decode, classify and render one image inside a queue slot, recording each step's time in `times`. */
async function processImage<T>(
  ctx: ImageRouteContext,
  buf: Buffer,
  copts: ClassifyOptions,
  render: Render<T>,
  signal: AbortSignal,
  times: Record<string, number>,
): Promise<{ size: { width: number; height: number }; result: ClassifyResult; out: T }> {
  const t1 = performance.now();
  const image = await decodeBody(buf, ctx.limits.maxPixels);
  const t2 = performance.now();
  times.decode = t2 - t1;
  signal.throwIfAborted();
  const result = await ctx.pipeline.classify(image, copts, signal);
  const t3 = performance.now();
  times.classify = t3 - t2;
  // Past the time limit the client already has its 503: render nothing for it.
  signal.throwIfAborted();
  const out = await render(image, result, signal);
  if (performance.now() - t3 > 0.05) times.render = performance.now() - t3;
  // The size, not the image: decoded pixels are let go with the slot.
  return { size: { width: image.width, height: image.height }, result, out };
}

/**
 * Read the admitted request's image, then in its queue slot decode it, classify it and, when given,
 * render from the result (annotation, saliency): decoded pixels exist only while a slot is held.
 */
async function imageJob<T>(
  ctx: ImageRouteContext,
  tickets: Tickets,
  req: FastifyRequest,
  reply: FastifyReply,
  render: Render<T>,
  extra: ClassifyOptions,
): Promise<{ result: ClassifyResult; out: T }> {
  const t0 = performance.now();
  const { ticket, buf } = await readAdmitted(ctx, tickets, req);
  const copts = classifyOptionsOf(req, extra);
  const times: Record<string, number> = {};
  const { size, result, out } = await ticket.run((signal) => {
    times.wait = performance.now() - t0;
    return processImage(ctx, buf, copts, render, signal, times);
  });
  timing(reply, times);
  const ms = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  req.log.info({ ...size, faces: result.faces.length, ms }, 'image processed');
  return { result, out };
}

/** Admission and the image job of the image routes, sharing the tickets of admitted requests. */
function imageJobs(ctx: ImageRouteContext) {
  const tickets: Tickets = new WeakMap();
  return {
    admit: (req: FastifyRequest, reply: FastifyReply) => admit(ctx, tickets, req, reply),
    imageJob: <T>(req: FastifyRequest, reply: FastifyReply, render: Render<T>, extra: ClassifyOptions = {}) =>
      imageJob(ctx, tickets, req, reply, render, extra),
  };
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
