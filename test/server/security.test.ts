/** API key, cross-origin requests, CORS, security headers and the per-client rate limit of the HTTP service. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { buildServer, keyMatches, type FaceclsServer, type ServerSecurity } from '../../src/server/app.js';
import { isLoopbackHost, parseCorsOrigin } from '../../src/cli/commands/serve.js';
import { runCli } from '../helpers/cli.js';
import { fixturePipeline, saveZooModels, type FixturePipeline } from './fixture-pipeline.js';

let pipeline: FixturePipeline;
let jpeg: Buffer;
const KEY = 'k3y-0123456789abcdef';

before(async () => {
  pipeline = await fixturePipeline(await saveZooModels());
  jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#a98' } })
    .jpeg()
    .toBuffer();
});
after(async () => pipeline.dispose());

async function start(security: Partial<ServerSecurity>): Promise<{ server: FaceclsServer; url: string }> {
  const server = await buildServer({ pipeline, security, logger: false });
  return { server, url: await server.app.listen({ host: '127.0.0.1', port: 0 }) };
}

const post = (url: string, headers: Record<string, string> = {}, route = '/v1/classify') =>
  fetch(`${url}${route}`, { method: 'POST', body: new Uint8Array(jpeg), headers: { 'content-type': 'image/jpeg', ...headers } });

async function errorOf(res: Response, status: number): Promise<{ error: string; message: string }> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as { error: string; message: string };
}

describe('API key', () => {
  let server: FaceclsServer;
  let url: string;
  before(async () => ({ server, url } = await start({ apiKey: KEY })));
  after(async () => server.close());

  test('POST /v1/* needs the key (Bearer or X-API-Key); a wrong or missing one is 401 before the body is read', async () => {
    assert.equal((await post(url, { authorization: `Bearer ${KEY}` })).status, 200);
    assert.equal((await post(url, { 'x-api-key': KEY })).status, 200);
    const none = await post(url);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await errorOf(none, 401)).error, 'unauthorized');
    assert.match((await errorOf(await post(url, { authorization: `Bearer ${KEY}x` }), 401)).message, /not valid/);
    assert.equal((await errorOf(await post(url, { 'x-api-key': '' }), 401)).error, 'unauthorized');
    // Every image endpoint, detection included, is guarded.
    for (const route of ['/v1/detect', '/v1/annotate', '/v1/saliency']) {
      assert.equal((await errorOf(await post(url, {}, route), 401)).error, 'unauthorized', route);
    }
    assert.equal((await post(url, { 'x-api-key': KEY }, '/v1/detect')).status, 200);
    // Page, models and health stay public (the page runs the models in the browser).
    for (const p of ['/healthz', '/v1/models', '/openapi.json']) assert.equal((await fetch(url + p)).status, 200, p);
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      info: { description: string };
      paths: Record<string, { post?: { security?: unknown[] } }>;
      components: { securitySchemes?: object };
    };
    assert.match(doc.info.description, /require an API key/);
    for (const route of ['/v1/classify', '/v1/detect', '/v1/annotate', '/v1/saliency']) {
      assert.deepEqual(doc.paths[route].post?.security, [{ bearer: [] }, { apiKeyHeader: [] }], route);
    }
    assert.ok(doc.components.securitySchemes);
  });

  test('keys are compared in constant time over digests (any length)', () => {
    assert.ok(keyMatches(KEY, KEY));
    assert.ok(!keyMatches(KEY.slice(0, -1), KEY));
    assert.ok(!keyMatches('', KEY));
    assert.ok(!keyMatches(KEY + KEY, KEY));
  });
});

describe('origins, CORS and headers', () => {
  test('by default a POST from another web origin is refused (403), same origin and non-browser clients pass; no CORS headers', async () => {
    const { server, url } = await start({});
    try {
      const other = await post(url, { origin: 'https://evil.example' });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      assert.equal((await errorOf(other, 403)).error, 'cross_origin_forbidden');
      assert.equal((await post(url, { origin: url })).status, 200);
      assert.equal((await post(url)).status, 200);
      const pre = await fetch(`${url}/v1/classify`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
    } finally {
      await server.close();
    }
  });

  test('--cors-origin allows that origin (preflight and response headers), others stay refused', async () => {
    const { server, url } = await start({ corsOrigins: ['https://app.example'] });
    try {
      const pre = await fetch(`${url}/v1/classify`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
      });
      assert.ok(pre.status === 204 || pre.status === 200, String(pre.status));
      assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
      const ok = await post(url, { origin: 'https://app.example' });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.match(ok.headers.get('access-control-expose-headers') ?? '', /retry-after/);
      assert.equal((await errorOf(await post(url, { origin: 'https://evil.example' }), 403)).error, 'cross_origin_forbidden');
    } finally {
      await server.close();
    }
  });

  test('security headers on pages, API answers and errors: CSP for the page, isolation kept, nosniff, no framing', async () => {
    const { server, url } = await start({});
    try {
      for (const res of [await fetch(`${url}/healthz`), await fetch(`${url}/nope`), await post(url, { 'content-type': 'text/plain' })]) {
        const h = res.headers;
        assert.equal(h.get('x-content-type-options'), 'nosniff');
        assert.equal(h.get('cross-origin-opener-policy'), 'same-origin');
        assert.equal(h.get('cross-origin-embedder-policy'), 'require-corp');
        assert.equal(h.get('cross-origin-resource-policy'), 'same-origin');
        assert.equal(h.get('referrer-policy'), 'no-referrer');
        assert.equal(h.get('x-frame-options'), 'DENY');
        const csp = h.get('content-security-policy') ?? '';
        for (const d of [
          "default-src 'self'",
          "script-src 'self' 'wasm-unsafe-eval' blob:",
          "worker-src 'self' blob:",
          "frame-ancestors 'none'",
          "object-src 'none'",
        ])
          assert.ok(csp.includes(d), `${d} in ${csp}`);
        assert.equal(h.get('strict-transport-security'), null, 'plain HTTP: no HSTS');
        await res.text();
      }
    } finally {
      await server.close();
    }
  });
});

test('rate limit per client: 429 with Retry-After past the limit, before the body is read', async () => {
  const { server, url } = await start({ rateLimit: 3, rateWindowMs: 60_000 });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await post(url)).status, 200);
    const res = await post(url);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    const body = await errorOf(res, 429);
    assert.equal(body.error, 'rate_limited');
    assert.match(body.message, /more than 3 per 60 s/);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'only the image endpoints are limited');
  } finally {
    await server.close();
  }
});

test('serve refuses a non-loopback address without an API key unless told, and short keys', () => {
  assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost') && isLoopbackHost('[::1]'));
  assert.ok(!isLoopbackHost('0.0.0.0') && !isLoopbackHost('::') && !isLoopbackHost('192.168.1.2'));
  assert.equal(parseCorsOrigin('https://a.example:8443'), 'https://a.example:8443');
  assert.throws(() => parseCorsOrigin('https://a.example/path'), /--cors-origin must be an origin/);
  const open = runCli(['serve', '--host', '0.0.0.0', '--port', '0'], { env: { FACECLS_API_KEY: '' } });
  assert.equal(open.code, 1, open.stderr);
  assert.match(
    open.stderr,
    /^facecls: error: refusing to listen on 0\.0\.0\.0 \(reachable from other machines\) without an API key: set --api-key \/ FACECLS_API_KEY, or pass --allow-unauthenticated\n$/,
  );
  const short = runCli(['serve', '--api-key', 'short', '--port', '0']);
  assert.equal(short.code, 1);
  assert.match(short.stderr, /at least 16 characters/);
});
