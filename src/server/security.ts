/**
 * Who may call the server and what every answer carries: security headers (helmet, CSP, cross-origin
 * isolation), CORS, the per-client rate limit, and the origin and API-key checks of the image routes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { HttpError } from './http-error.js';
import type { ServerSecurity } from './limits.js';

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

/** Security headers first, so that every answer carries them, refusals included; then CORS and the rate limiter. */
export async function registerSecurity(app: FastifyInstance, security: ServerSecurity): Promise<void> {
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
  if (security.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: security.corsOrigins.includes('*') ? '*' : security.corsOrigins,
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
      new HttpError(
        429,
        'rate_limited',
        `too many requests from this client: more than ${ctx.max} per ${security.rateWindowMs / 1000} s (the server's rate limit); retry after ${ctx.after}`,
      ),
  });
}

/** The route options that put a route under the per-client rate limit (none when the limit is 0). */
export function rateLimitConfig(security: ServerSecurity): { config: object } {
  return { config: security.rateLimit > 0 ? { rateLimit: { max: security.rateLimit, timeWindow: security.rateWindowMs } } : {} };
}

/**
 * Who may post work, before anything else is done for the request: on POSTs to `routes`, an origin the
 * server allows (CORS) and, when configured, the API key.
 */
export function addAccessCheck(app: FastifyInstance, security: ServerSecurity, routes: ReadonlySet<string>): void {
  const corsAny = security.corsOrigins.includes('*');
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST' || !routes.has(req.url.split('?')[0])) return;
    // A browser page of another origin may send simple requests (a form post) without a preflight:
    // refuse them unless that origin is allowed (CORS). Same-origin and non-browser clients pass.
    const origin = req.headers.origin;
    if (typeof origin === 'string' && !corsAny && !security.corsOrigins.includes(origin)) {
      const self = `${req.protocol}://${req.headers.host ?? ''}`;
      if (origin !== self)
        throw new HttpError(
          403,
          'cross_origin_forbidden',
          `requests from the web origin ${origin} are not allowed (the server's CORS origins do not include it)`,
          { connection: 'close' },
        );
    }
    if (security.apiKey !== undefined) {
      const key = presentedKey(req);
      if (key === undefined)
        throw new HttpError(401, 'unauthorized', 'this server requires an API key: send Authorization: Bearer <key> or X-API-Key: <key>', {
          'www-authenticate': 'Bearer',
          connection: 'close',
        });
      if (!keyMatches(key, security.apiKey))
        throw new HttpError(401, 'unauthorized', 'the API key is not valid', { 'www-authenticate': 'Bearer error="invalid_token"', connection: 'close' });
    }
  });
}
