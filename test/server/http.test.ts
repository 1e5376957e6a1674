/** HTTP API tests against a started server on a real socket (127.0.0.1, random port). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { buildServer, type FaceclsServer, type ServerLimits } from '../../src/server/app.js';
import { fixturePipeline, saveZooModels, type FixturePipeline } from './fixture-pipeline.js';

let pipeline: FixturePipeline;

async function start(limits: Partial<ServerLimits> = {}): Promise<{ server: FaceclsServer; url: string }> {
  const server = await buildServer({ pipeline, limits, logger: false, version: 'test' });
  const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, url: address };
}

/** A synthetic "photo": smooth gradients plus a bright ellipse, as JPEG or PNG. */
async function image(width: number, height: number, format: 'jpeg' | 'png' = 'jpeg', seed = 0): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inside = ((x - width / 2) / (width / 3)) ** 2 + ((y - height / 2) / (height / 2.5)) ** 2 < 1;
      data[i] = inside ? 220 : (x * 255) / width;
      data[i + 1] = inside ? 180 - seed * 10 : (y * 255) / height;
      data[i + 2] = inside ? 150 + seed * 5 : 90;
    }
  }
  const s = sharp(data, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? s.jpeg({ quality: 90 }).toBuffer() : s.png().toBuffer();
}

async function post(url: string, body: Buffer | string, type?: string): Promise<Response> {
  return fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: type ? { 'content-type': type } : {} });
}

/** Send raw bytes on a new connection; resolves with everything the server sent until it closed. */
function rawRequest(port: number, text: string, opts: { end?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(Buffer.from(text, 'latin1'));
      if (opts.end) sock.end();
    });
    let out = '';
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('close', () => resolve(out));
    sock.on('error', (e) => (out ? resolve(out) : reject(e)));
    sock.setTimeout(15_000, () => sock.destroy(new Error('no answer within 15 s')));
  });
}

async function expectError(res: Response, status: number, pattern: RegExp): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.statusCode, status);
  assert.equal(typeof body.error, 'string');
  assert.match(String(body.message), pattern);
  return body;
}

before(async () => {
  pipeline = await fixturePipeline(await saveZooModels());
});

after(async () => {
  await pipeline.dispose();
});

describe('facecls HTTP API', () => {
  let server: FaceclsServer;
  let url: string;
  before(async () => {
    ({ server, url } = await start({ bodyLimit: 512 * 1024, maxPixels: 1_000_000 }));
  });
  after(async () => server.close());

  test('GET /healthz reports ok, backend and queue, with cross-origin isolation headers', async () => {
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; backend: string; queue: { active: number } };
    assert.equal(body.status, 'ok');
    assert.equal(body.backend, tf.getBackend());
    assert.equal(body.queue.active, 0);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
  });

  test('GET /openapi.json documents every endpoint', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    for (const p of ['/v1/classify', '/v1/detect', '/v1/annotate', '/v1/saliency', '/v1/models', '/healthz']) assert.ok(doc.paths[p], p);
  });

  test('GET /v1/models lists the classifiers with metadata, and their files are served', async () => {
    const body = (await (await fetch(`${url}/v1/models`)).json()) as {
      detector: string;
      saliency: boolean;
      models: Array<{ role: string; url: string; meta: { labels: string[]; inputSize: number } }>;
    };
    assert.deepEqual(body.models.map((m) => m.role).sort(), ['emotion', 'gender']);
    assert.equal(body.saliency, false);
    const emotion = body.models.find((m) => m.role === 'emotion')!;
    assert.equal(emotion.meta.labels.length, 7);
    const json = await fetch(url + emotion.url);
    assert.equal(json.status, 200);
    const manifest = ((await json.json()) as { weightsManifest: Array<{ paths: string[] }> }).weightsManifest;
    const weights = await fetch(new URL(manifest[0].paths[0], url + emotion.url));
    assert.equal(weights.status, 200);
    assert.ok((await weights.arrayBuffer()).byteLength > 1000);
  });

  test('static files: wasm binaries served as application/wasm, nothing outside the table', async () => {
    const wasm = await fetch(`${url}/wasm/tfjs-backend-wasm-simd.wasm`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(wasm.headers.get('cross-origin-resource-policy'), 'same-origin');
    await wasm.arrayBuffer();
    for (const p of ['/models/emotion/../../package.json', '/models/emotion/%2e%2e%2fpackage.json', '/wasm/../package.json', '/app/../../package.json']) {
      const res = await fetch(url + p);
      assert.equal(res.status, 404, p);
      await res.text();
    }
  });

  test('POST /v1/classify with raw JPEG bytes returns faces in the pipeline shape', async () => {
    const res = await post(`${url}/v1/classify`, await image(320, 240), 'image/jpeg');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('server-timing') ?? '', /decode;dur=.*classify;dur=/);
    const body = (await res.json()) as {
      width: number;
      height: number;
      faces: Array<{
        box: number[];
        score: number;
        emotion: { label: string; scores: Record<string, number> };
        gender: { label: string; scores: Record<string, number> };
      }>;
    };
    assert.equal(body.width, 320);
    assert.equal(body.height, 240);
    assert.equal(body.faces.length, 1);
    const f = body.faces[0];
    assert.deepEqual(f.box, [0, 0, 320, 240]);
    assert.equal(Object.keys(f.emotion.scores).length, 7);
    const sum = Object.values(f.emotion.scores).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `emotion scores sum to ${sum}`);
    assert.ok(f.emotion.label in f.emotion.scores);
    assert.deepEqual(Object.keys(f.gender.scores).sort(), ['man', 'woman']);
  });

  test('POST /v1/detect asks the pipeline for detection only and returns boxes and scores, no classes', async () => {
    const res = await post(`${url}/v1/detect?minFaceSize=10`, await image(320, 240), 'image/jpeg');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { width: 320, height: 240, faces: [{ box: [0, 0, 320, 240], score: 1 }] });
    assert.deepEqual(pipeline.lastOptions, { detectOnly: true, minFaceSize: 10 });
    await expectError(await post(`${url}/v1/detect`, 'not an image', 'text/plain'), 415, /image/);
  });

  test('POST /v1/classify accepts multipart uploads and gives the same answer as raw bytes', async () => {
    const img = await image(200, 200, 'png', 3);
    const raw = await (await post(`${url}/v1/classify`, img, 'image/png')).json();
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(img)], { type: 'image/png' }), 'face.png');
    const res = await fetch(`${url}/v1/classify`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), raw);
  });

  test('POST /v1/annotate returns a PNG of the image size', async () => {
    const res = await post(`${url}/v1/annotate`, await image(160, 120), 'application/octet-stream');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(res.headers.get('x-faces'), '1');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [160, 120]);
  });

  test('POST /v1/saliency answers 501 when the pipeline has no saliency', async () => {
    await expectError(await post(`${url}/v1/saliency`, await image(64, 64), 'image/jpeg'), 501, /saliency/);
  });

  test('413: body over the byte limit (raw and multipart), image over the pixel limit', async () => {
    const big = Buffer.alloc(600 * 1024, 7);
    await expectError(await post(`${url}/v1/classify`, big, 'image/jpeg'), 413, /524288-byte limit/);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(big)], { type: 'image/jpeg' }), 'big.jpg');
    await expectError(await fetch(`${url}/v1/classify`, { method: 'POST', body: form }), 413, /byte limit/);
    const wide = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    assert.ok(wide.length < 512 * 1024);
    await expectError(await post(`${url}/v1/classify`, wide, 'image/png'), 413, /1000000-pixel limit/);
  });

  test('415: a non-image content type, and bytes that are not an image', async () => {
    await expectError(await post(`${url}/v1/classify`, 'hello', 'text/plain'), 415, /content type "text\/plain"/);
    await expectError(await post(`${url}/v1/classify`, '{"a":1}', 'application/json'), 415, /content type/);
    await expectError(await post(`${url}/v1/classify`, Buffer.from('this is not an image at all, just text'), 'image/jpeg'), 415, /request body.*not an image/);
  });

  test('400: empty body, truncated image, missing multipart file, invalid query', async () => {
    await expectError(await post(`${url}/v1/classify`, Buffer.alloc(0), 'image/jpeg'), 400, /empty/);
    const jpeg = await image(320, 240);
    await expectError(await post(`${url}/v1/classify`, jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'image/jpeg'), 400, /request body/);
    const form = new FormData();
    form.append('note', 'no file here');
    await expectError(await fetch(`${url}/v1/classify`, { method: 'POST', body: form }), 400, /no file/);
    await expectError(await post(`${url}/v1/classify?minFaceSize=abc`, jpeg, 'image/jpeg'), 400, /querystring.*minFaceSize/);
    await expectError(await post(`${url}/v1/classify?bogus=1`, jpeg, 'image/jpeg'), 400, /querystring/);
    await expectError(await post(`${url}/v1/saliency?method=magic`, jpeg, 'image/jpeg'), 400, /method/);
  });

  test('content types with parameters are accepted (image/jpeg; charset=utf-8); others answer 415 unread', async () => {
    const jpeg = await image(64, 64);
    for (const type of ['image/jpeg; charset=utf-8', 'IMAGE/JPEG', 'application/octet-stream; foo=bar', 'image/png ; q=1']) {
      const res = await post(`${url}/v1/classify`, jpeg, type);
      assert.equal(res.status, 200, `${type}: ${await res.clone().text()}`);
      await res.json();
    }
    await expectError(await post(`${url}/v1/classify`, jpeg, 'text/plain; charset=utf-8'), 415, /content type "text\/plain; charset=utf-8"/);
    await expectError(await post(`${url}/v1/classify`, jpeg, 'imagex/jpeg'), 415, /content type/);
  });

  test('multipart: a second file is refused (multiple_files), too many fields is too_many_fields, a broken form malformed_multipart', async () => {
    const img = await image(64, 64, 'png');
    const two = new FormData();
    two.append('image', new Blob([new Uint8Array(img)], { type: 'image/png' }), 'a.png');
    two.append('other', new Blob([new Uint8Array(img)], { type: 'image/png' }), 'b.png');
    const b1 = await expectError(await fetch(`${url}/v1/classify`, { method: 'POST', body: two }), 400, /more than one file \("image", then "other"\)/);
    assert.equal(b1.error, 'multiple_files');
    const fields = new FormData();
    for (let i = 0; i < 20; i++) fields.append(`f${i}`, 'x');
    fields.append('image', new Blob([new Uint8Array(img)], { type: 'image/png' }), 'a.png');
    const b2 = await expectError(await fetch(`${url}/v1/classify`, { method: 'POST', body: fields }), 413, /more than 10 form fields/);
    assert.equal(b2.error, 'too_many_fields');
    const b3 = await expectError(
      await post(`${url}/v1/classify`, '--nope\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\nabc', 'multipart/form-data; boundary=XYZ'),
      400,
      /multipart/,
    );
    assert.ok(['malformed_multipart', 'missing_file'].includes(String(b3.error)), String(b3.error));
    const b4 = await expectError(await post(`${url}/v1/classify`, 'abc', 'multipart/form-data'), 400, /multipart|boundary/i);
    assert.equal(typeof b4.error, 'string');
  });

  test('requests the HTTP parser refuses answer JSON too (malformed request line, oversized headers)', async () => {
    const port = Number(new URL(url).port);
    const bad = await rawRequest(port, 'BLAH /v1/classify HTTP/9\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    assert.equal((JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4)) as { error: string }).error, 'bad_request');
    const big = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
    assert.equal((JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4)) as { error: string }).error, 'headers_too_large');
  });

  test('a stalled upload is answered 408 in JSON and the connection closed', async () => {
    const { server: s2, url: u2 } = await start({ bodyTimeoutMs: 300 });
    try {
      const port = Number(new URL(u2).port);
      for (const [type, head] of [
        ['image/jpeg', ''],
        ['multipart/form-data; boundary=B', '--B\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'],
      ]) {
        const t0 = Date.now();
        const answer = await rawRequest(
          port,
          `POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: 100000\r\n\r\n${head}\xff\xd8`,
        );
        assert.ok(Date.now() - t0 < 5000);
        assert.match(answer, /^HTTP\/1\.1 408 /, answer);
        assert.match(answer, /connection: close/i);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: string; message: string };
        assert.equal(body.error, 'request_timeout');
        assert.match(body.message, /stalled: no bytes for 300 ms/);
      }
      const health = (await (await fetch(`${u2}/healthz`)).json()) as { queue: { active: number; queued: number } };
      assert.deepEqual([health.queue.active, health.queue.queued], [0, 0], 'the stalled requests gave their places back');
    } finally {
      await s2.close();
    }
  });

  test('404 is JSON too', async () => {
    await expectError(await fetch(`${url}/v2/nothing`), 404, /GET \/v2\/nothing/);
  });

  test('concurrent requests all succeed, each with its own image result, and no tensors leak', async () => {
    const images = await Promise.all(Array.from({ length: 6 }, (_, i) => image(96 + 16 * i, 96, 'jpeg', i)));
    const expected = await Promise.all(images.map(async (img) => (await post(`${url}/v1/classify`, img, 'image/jpeg')).json()));
    const tensors = tf.memory().numTensors;
    const order = Array.from({ length: 24 }, (_, i) => i % images.length);
    const results = await Promise.all(order.map(async (i) => ({ i, res: await post(`${url}/v1/classify`, images[i], 'image/jpeg') })));
    for (const { i, res } of results) {
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), expected[i]);
    }
    assert.equal(tf.memory().numTensors, tensors, 'tensor count after 24 concurrent requests');
  });
});

describe('overload and time limits', () => {
  test('503 with Retry-After when the queue is full; the admitted requests still succeed', async () => {
    const { server, url } = await start({ concurrency: 1, maxQueued: 2, timeoutMs: 10_000 });
    pipeline.delayMs = 150;
    try {
      const img = await image(64, 64);
      const res = await Promise.all(Array.from({ length: 8 }, () => post(`${url}/v1/classify`, img, 'image/jpeg')));
      const ok = res.filter((r) => r.status === 200);
      const busy = res.filter((r) => r.status === 503);
      assert.equal(ok.length + busy.length, 8);
      assert.ok(ok.length >= 3, `${ok.length} admitted`);
      assert.ok(busy.length >= 1, `${busy.length} refused`);
      for (const r of busy) {
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
        await expectError(r, 503, /server busy.*queued/);
      }
      for (const r of ok) await r.json();
      const health = (await (await fetch(`${url}/healthz`)).json()) as { queue: { rejected: number } };
      assert.equal(health.queue.rejected, busy.length);
    } finally {
      pipeline.delayMs = 0;
      await server.close();
    }
  });

  test('over the queue limit: 503 + Retry-After as soon as the headers arrive, before the body is sent or read', async () => {
    const { server, url } = await start({ concurrency: 1, maxQueued: 1, timeoutMs: 10_000, rejectDelayMs: 0 });
    pipeline.delayMs = 800;
    try {
      const img = await image(64, 64);
      const admitted = [post(`${url}/v1/classify`, img, 'image/jpeg'), post(`${url}/v1/classify`, img, 'image/jpeg')];
      await new Promise((r) => setTimeout(r, 200));
      const port = Number(new URL(url).port);
      // Headers of a 10 MB upload, and no body at all: the answer cannot depend on reading it.
      const t0 = Date.now();
      const answer = await rawRequest(port, 'POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10000000\r\n\r\n');
      assert.ok(Date.now() - t0 < 600, `answered in ${Date.now() - t0} ms, before the running job ended`);
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.match(answer, /retry-after: \d+/i);
      assert.match(answer, /connection: close/i, 'a large unread body closes the connection');
      assert.match(answer, /"error":"overloaded"/);
      // A small refused body keeps the connection (Node discards the few unread bytes).
      const small = await post(`${url}/v1/classify`, img, 'image/jpeg');
      await expectError(small, 503, /server busy/);
      assert.notEqual(small.headers.get('connection'), 'close');
      for (const r of await Promise.all(admitted)) assert.equal(r.status, 200);
      const health = (await (await fetch(`${url}/healthz`)).json()) as { queue: { rejected: number; active: number; queued: number } };
      assert.deepEqual([health.queue.rejected, health.queue.active, health.queue.queued], [2, 0, 0]);
    } finally {
      pipeline.delayMs = 0;
      await server.close();
    }
  });

  test('refusals are answered after --reject-delay-ms (a client retrying at once cannot spin the server), still unread', async () => {
    const { server, url } = await start({ concurrency: 1, maxQueued: 0, timeoutMs: 10_000, rejectDelayMs: 300 });
    pipeline.delayMs = 1500;
    try {
      const running = post(`${url}/v1/classify`, await image(64, 64), 'image/jpeg');
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      const answer = await rawRequest(
        Number(new URL(url).port),
        'POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10000000\r\n\r\n',
      );
      const ms = Date.now() - t0;
      assert.ok(ms >= 290 && ms < 1200, `answered after ${ms} ms`);
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.equal((await running).status, 200);
    } finally {
      pipeline.delayMs = 0;
      await server.close();
    }
  });

  test('503 with Retry-After when a request exceeds the time limit', async () => {
    const { server, url } = await start({ timeoutMs: 100 });
    pipeline.delayMs = 400;
    try {
      const res = await post(`${url}/v1/classify`, await image(64, 64), 'image/jpeg');
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      await expectError(res, 503, /100 ms time limit/);
    } finally {
      pipeline.delayMs = 0;
      await server.close();
    }
  });

  test('graceful close: an in-flight request completes, new connections are refused', async () => {
    const { server, url } = await start();
    pipeline.delayMs = 300;
    try {
      const inflight = post(`${url}/v1/classify`, await image(64, 64), 'image/jpeg');
      await new Promise((r) => setTimeout(r, 100));
      const closing = server.close();
      const res = await inflight;
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { faces: unknown[] }).faces.length, 1);
      await closing;
      await assert.rejects(fetch(`${url}/healthz`));
    } finally {
      pipeline.delayMs = 0;
    }
  });
});
