/**
 * The facecls HTTP service (fastify): image endpoints, model cards, health, OpenAPI, and the web page
 * with its assets, all served cross-origin isolated. Models are loaded once by the caller and passed
 * in as a ServerPipeline; every inference goes through one admission queue.
 *
 * This file composes the parts: security.ts (headers, CORS, rate limit, origin and API-key checks),
 * body.ts (image and multipart bodies), error-handler.ts (every error in one JSON shape),
 * image-routes.ts (admission and the POST /v1/* endpoints), info-routes.ts (models, health, OpenAPI,
 * the page and its files).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { registerBodyParsers } from './body.js';
import { clientErrorHandler, setErrorHandlers } from './error-handler.js';
import { registerImageRoutes } from './image-routes.js';
import { registerInfoRoutes } from './info-routes.js';
import { DEFAULT_LIMITS, DEFAULT_SECURITY, type ServerLimits, type ServerSecurity } from './limits.js';
import type { ServerPipeline } from './pipeline.js';
import { registerSecurity } from './security.js';
import { WorkQueue } from './work-queue.js';

export { DEFAULT_LIMITS, DEFAULT_SECURITY, type ServerLimits, type ServerSecurity } from './limits.js';
export { isImageMediaType, mediaType } from './body.js';
export { keyMatches } from './security.js';

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

function createApp(limits: ServerLimits, logger: FastifyServerOptions['logger']): FastifyInstance {
  return Fastify({
    logger: logger ?? false,
    bodyLimit: limits.bodyLimit,
    // Backstops of the server itself (the body's own stall limit, bodyTimeoutMs, answers 408 in JSON first).
    requestTimeout: limits.timeoutMs + 5_000,
    connectionTimeout: limits.timeoutMs + 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, useDefaults: true, allErrors: true } },
    clientErrorHandler,
  });
}

export async function buildServer(opts: ServerOptions): Promise<FaceclsServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const security: ServerSecurity = { ...DEFAULT_SECURITY, ...opts.security };
  const pipeline = opts.pipeline;
  const queue = new WorkQueue({ concurrency: limits.concurrency, maxQueued: limits.maxQueued, timeoutMs: limits.timeoutMs });
  let closing = false;
  const isClosing = () => closing;

  const app = createApp(limits, opts.logger);
  // Security headers first, so that every answer carries them, refusals included.
  await registerSecurity(app, security);
  // Image bodies are read after the request was admitted (preParsing), with the byte limit and a stall limit.
  await registerBodyParsers(app, limits);
  setErrorHandlers(app, limits);
  registerImageRoutes(app, { pipeline, queue, limits, security, closing: isClosing });
  registerInfoRoutes(app, { pipeline, queue, limits, security, version: opts.version ?? '0.0.0', started: Date.now(), closing: isClosing });

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
