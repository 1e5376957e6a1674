/**
 * The read-only endpoints: model cards (GET /v1/models), health (GET /healthz), the OpenAPI document,
 * and the web page with its bundle, wasm binaries and model files from a fixed table.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './error-handler.js';
import type { ServerLimits, ServerSecurity } from './limits.js';
import type { ServerPipeline } from './pipeline.js';
import { healthSchema, modelsSchema, openApiDocument } from './schemas.js';
import { buildFileTable, contentType, modelUrl, type FileTable } from './static-files.js';
import type { WorkQueue } from './work-queue.js';

export interface InfoRouteContext {
  pipeline: ServerPipeline;
  queue: WorkQueue;
  limits: ServerLimits;
  security: ServerSecurity;
  version: string;
  /** When the server started (Date.now()). */
  started: number;
  closing: () => boolean;
}

export function registerInfoRoutes(app: FastifyInstance, ctx: InfoRouteContext): void {
  const { pipeline, queue, limits, security } = ctx;
  app.get('/v1/models', { schema: { response: { 200: modelsSchema } } }, async () => ({
    detector: pipeline.detectorName,
    saliency: typeof pipeline.saliency === 'function',
    models: pipeline.models().map((m) => ({ role: m.role, format: m.format, url: modelUrl(m.role), meta: m.meta, info: m.info, card: m.card })),
  }));

  app.get('/healthz', { schema: { response: { 200: healthSchema, 503: healthSchema } } }, async (_req, reply) => {
    const mu = process.memoryUsage();
    const local = tf.memory();
    const mem = pipeline.memory ? await pipeline.memory().catch(() => undefined) : undefined;
    const closing = ctx.closing();
    reply.code(closing ? 503 : 200);
    return {
      status: closing ? 'shutting-down' : 'ok',
      uptimeSeconds: (Date.now() - ctx.started) / 1000,
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

  const openapi = openApiDocument(limits, ctx.version, {
    apiKey: security.apiKey !== undefined,
    rateLimit: security.rateLimit,
    rateWindowMs: security.rateWindowMs,
  });
  app.get('/openapi.json', async () => openapi);

  registerStaticFiles(app, buildFileTable(pipeline.models()));
}

/**
 * The page, its bundle, the wasm binaries and the model files: a fixed table, no path from the URL
 * reaches the file system.
 */
function registerStaticFiles(app: FastifyInstance, files: FileTable): void {
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
    reply
      .type(contentType(file))
      .header('content-length', stat.size)
      .header('cache-control', urlPath.startsWith('/wasm/') ? 'public, max-age=86400' : 'no-cache');
    return reply.send(fs.createReadStream(file));
  };
  app.get('/', sendFile);
  app.get('/app/*', sendFile);
  app.get('/wasm/*', sendFile);
  app.get('/models/*', sendFile);
}
