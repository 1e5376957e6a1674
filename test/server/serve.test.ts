/**
 * The production pipeline behind the server (FaceClassifier + BlazeFace + src/viz saliency) on zoo
 * models saved to a temp dir, and the `facecls serve` command as a process: start, answer, stop on
 * SIGTERM, clear errors for missing models and bad options.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../../src/data/paths.js';
import { buildServer, type FaceclsServer } from '../../src/server/app.js';
import { FacePipeline } from '../../src/server/face-pipeline.js';
import { FaceClassifier } from '../../src/pipeline/face-classifier.js';
import { Explainer } from '../../src/pipeline/explainer.js';
import { decodeImage } from '../../src/data/decode.js';
import { explainedPanel } from '../../src/viz/explain.js';
import type { ServerPipeline } from '../../src/server/pipeline.js';
import { runCli } from '../helpers/cli.js';
import { saveZooModels } from './fixture-pipeline.js';
import { encoder, frame, utkSkip } from '../pipeline/fixtures.js';

let models: { emotion: string; gender: string };

before(async () => {
  models = await saveZooModels();
});

async function faceLike(size = 160): Promise<Buffer> {
  // A grey oval "face" with darker eyes and mouth: enough for crops=true, which skips detection.
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="#6a8"/>
    <ellipse cx="80" cy="80" rx="55" ry="70" fill="#dcb"/><circle cx="60" cy="65" r="8" fill="#333"/><circle cx="100" cy="65" r="8" fill="#333"/>
    <rect x="60" y="110" width="40" height="8" fill="#944"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

describe('server on the FaceClassifier pipeline', () => {
  let pipeline: FacePipeline;
  let server: FaceclsServer;
  let url: string;
  before(async () => {
    pipeline = await FacePipeline.load({ emotionModel: models.emotion, genderModel: models.gender });
    server = await buildServer({ pipeline, logger: false });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await server.close();
    await pipeline.dispose();
  });

  const post = async (p: string, body: Buffer) => fetch(url + p, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'image/jpeg' } });

  test('models: classifiers with crop margin, and the BlazeFace detector for the browser', async () => {
    const body = (await (await fetch(`${url}/v1/models`)).json()) as {
      detector: string;
      saliency: boolean;
      models: Array<{ role: string; format: string; url: string; info: { cropMargin?: number } }>;
    };
    assert.equal(body.detector, 'blazeface');
    assert.equal(body.saliency, true);
    assert.deepEqual(
      body.models.map((m) => m.role),
      ['emotion', 'gender', 'age', 'detector'],
    );
    assert.equal(typeof body.models[0].info.cropMargin, 'number');
    // The age model's files are served for the page, like the others.
    const ageJson = (await (await fetch(url + body.models[2].url)).json()) as { userDefinedMetadata: { facecls: { task: string } } };
    assert.equal(ageJson.userDefinedMetadata.facecls.task, 'age');
    const det = body.models[3];
    assert.equal(det.format, 'graph-model');
    const json = (await (await fetch(url + det.url)).json()) as { format: string; weightsManifest: Array<{ paths: string[] }> };
    assert.equal(json.format, 'graph-model');
    const bin = await fetch(new URL(json.weightsManifest[0].paths[0], url + det.url));
    assert.equal(bin.status, 200);
    assert.ok((await bin.arrayBuffer()).byteLength > 100_000);
  });

  test('no face in the image: an empty list, not an error', async () => {
    const plain = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3a5' } })
      .jpeg()
      .toBuffer();
    const res = await post('/v1/classify', plain);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { width: 320, height: 240, faces: [] });
  });

  test('/v1/detect on the real pipeline: BlazeFace boxes with the six keypoints, no classes', { skip: utkSkip() }, async () => {
    const f = await frame(1, 4242, 120, 180);
    const body = (await (await post('/v1/detect', await encoder(f.image).jpeg({ quality: 92 }).toBuffer())).json()) as {
      faces: Array<Record<string, unknown> & { box: number[]; keypoints: Record<string, number[]> }>;
    };
    assert.equal(body.faces.length, 1);
    assert.deepEqual(Object.keys(body.faces[0]).sort(), ['box', 'keypoints', 'score']);
    assert.deepEqual(Object.keys(body.faces[0].keypoints), ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar']);
    assert.ok(body.faces[0].keypoints.rightEye[0] < body.faces[0].keypoints.leftEye[0]);
    const classified = (await (await post('/v1/classify', await encoder(f.image).jpeg({ quality: 92 }).toBuffer())).json()) as {
      faces: Array<{ box: number[]; keypoints: unknown; emotion: unknown }>;
    };
    assert.deepEqual(classified.faces[0].box, body.faces[0].box);
    assert.deepEqual(classified.faces[0].keypoints, body.faces[0].keypoints);
    assert.ok(classified.faces[0].emotion);
  });

  test('crops=true classifies the crop as one face (the face found in it, else the whole image); minFaceSize filters', async () => {
    const img = await faceLike();
    const body = (await (await post('/v1/classify?crops=true', img)).json()) as {
      faces: Array<{ box: number[]; score: number; emotion: { label: string }; gender: { label: string } }>;
    };
    assert.equal(body.faces.length, 1);
    const [x, y, w, h] = body.faces[0].box;
    assert.ok(x + w / 2 > 0 && x + w / 2 < 160 && y + h / 2 > 0 && y + h / 2 < 160 && w >= 160 * 0.25, `one face centred in the crop: ${body.faces[0].box}`);
    assert.ok(body.faces[0].emotion.label && body.faces[0].gender.label);
    const none = (await (await post('/v1/classify?crops=true&minFaceSize=200', img)).json()) as { faces: unknown[] };
    assert.equal(none.faces.length, 0);
  });

  test("the response carries the age (the library's, through the schema); age=false drops it, other fields unchanged", async () => {
    const img = await faceLike();
    type Face = { box: number[]; score: number; emotion: unknown; gender: unknown; age?: { years: number; range: number[] } };
    const body = (await (await post('/v1/classify?crops=true', img)).json()) as { faces: Face[] };
    const age = body.faces[0].age!;
    assert.deepEqual(Object.keys(age), ['years', 'range']);
    assert.ok(age.years >= 1 && age.years <= 90 && age.range.length === 2 && age.range.every(Number.isInteger), JSON.stringify(age));
    const direct = await pipeline.fc.classify(img, { crop: true });
    assert.deepEqual(age, direct[0].age, 'the same estimate as the library');
    const without = (await (await post('/v1/classify?crops=true&age=false', img)).json()) as { faces: Face[] };
    assert.equal(without.faces[0].age, undefined);
    const { age: _dropped, ...rest } = body.faces[0];
    assert.deepEqual(without.faces[0], rest);
    const bad = await post('/v1/classify?age=maybe', img);
    assert.equal(bad.status, 400);
    // The OpenAPI document describes both.
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      components: { schemas: { Face: { properties: Record<string, unknown> } } };
      paths: Record<string, { post: { parameters: Array<{ name: string }> } }>;
    };
    assert.ok(doc.components.schemas.Face.properties.age);
    assert.ok(doc.paths['/v1/classify'].post.parameters.some((p) => p.name === 'age'));
  });

  test('annotate and saliency return PNGs; an unknown class is a 400 naming it', async () => {
    const img = await faceLike();
    const ann = await post('/v1/annotate?crops=true', img);
    assert.equal(ann.status, 200);
    assert.equal((await sharp(Buffer.from(await ann.arrayBuffer())).metadata()).width, 160);
    for (const method of ['guided', 'gradcam', 'guided-gradcam']) {
      const res = await post(`/v1/saliency?crops=true&method=${method}&task=gender`, img);
      assert.equal(res.status, 200, method);
      assert.equal(res.headers.get('content-type'), 'image/png');
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      assert.ok(meta.width! > 300 && meta.height! > 100, `${method} panel ${meta.width}x${meta.height}`);
    }
    // Age saliency: the map of the age estimate (a panel like the others).
    const ageMap = await post('/v1/saliency?crops=true&task=age&method=gradcam', img);
    assert.equal(ageMap.status, 200);
    assert.equal(ageMap.headers.get('content-type'), 'image/png');
    const bad = await post('/v1/saliency?crops=true&class=bogus', img);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /unknown class "bogus"/);
  });

  test('saliency with crops=true and no face found explains the whole image as given, as `facecls saliency --crops` does', async () => {
    // Gradients and bars, no face for the detector: the whole crop is the face. (Not a flat colour,
    // whose every framing looks the same.)
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="80"><defs><linearGradient id="g" x2="1" y2="1">
      <stop offset="0" stop-color="#124"/><stop offset="1" stop-color="#eda"/></linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/><rect x="10" y="50" width="70" height="6" fill="#c33"/><rect x="60" y="5" width="8" height="40" fill="#3c3"/></svg>`;
    const png = await sharp(Buffer.from(svg)).png().toBuffer();
    const classified = (await (await post('/v1/classify?crops=true', png)).json()) as { faces: Array<{ box: number[] }> };
    assert.deepEqual(
      classified.faces.map((f) => f.box),
      [[0, 0, 96, 80]],
    );
    const res = await post('/v1/saliency?crops=true&method=gradcam&task=gender', png);
    assert.equal(res.status, 200);
    const served = Buffer.from(await res.arrayBuffer());
    // The CLI's path (runSaliencyCommand): the explainer finds and classifies the faces itself.
    const fc = await FaceClassifier.load({ emotionModel: models.emotion, genderModel: models.gender });
    const explainer = await Explainer.load(fc, 'gender');
    try {
      const img = await decodeImage(png);
      const cli = await explainer.explainImage(img, { method: 'gradcam', crop: true });
      assert.deepEqual(
        cli.explained.map((f) => f.box),
        [[0, 0, 96, 80]],
      );
      assert.ok(served.equals(await explainedPanel(img, cli.explained, explainer.grad.meta, 'gradcam')), 'the server panel is the CLI panel');
      const framed = explainer.explainResults(img, cli.faces, { method: 'gradcam' });
      assert.notDeepEqual(
        framed.map((f) => f.box),
        [[0, 0, 96, 80]],
        'the crop rule would frame the whole image differently',
      );
    } finally {
      await explainer.dispose();
      await fc.dispose();
    }
  });
});

describe('server on a worker-thread pool', () => {
  test('two workers give the in-thread answers, render PNGs, report their tensors, and refuse missing models', async () => {
    const { WorkerPoolPipeline } = await import('../../src/server/worker-pool.js');
    const opts = { emotionModel: models.emotion, genderModel: models.gender };
    const inThread = await FacePipeline.load(opts);
    const pool = await WorkerPoolPipeline.load(opts, 2);
    const server = await buildServer({ pipeline: pool, logger: false, limits: { concurrency: 2 } });
    const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      assert.equal(pool.size, 2);
      assert.equal(pool.detectorName, 'blazeface');
      const img = await faceLike();
      const decoded = {
        data: new Uint8Array((await sharp(img).raw().toBuffer({ resolveWithObject: true })).data),
        width: 160,
        height: 160,
        channels: 3 as const,
      };
      const expected = await inThread.classify(decoded, { crops: true });
      const post = (p: string) => fetch(url + p, { method: 'POST', body: new Uint8Array(img), headers: { 'content-type': 'image/jpeg' } });
      const answers = await Promise.all(Array.from({ length: 6 }, async () => (await post('/v1/classify?crops=true')).json()));
      // asGiven is for the server's own saliency step: the response schema leaves it out.
      for (const a of answers) assert.deepEqual(a, JSON.parse(JSON.stringify({ ...expected, asGiven: undefined })));
      const png = await post('/v1/saliency?crops=true&method=gradcam');
      assert.equal(png.status, 200);
      assert.equal((await sharp(Buffer.from(await png.arrayBuffer())).metadata()).format, 'png');
      const bad = await post('/v1/saliency?crops=true&class=bogus');
      assert.equal(bad.status, 400, 'user errors cross the thread boundary as 400');
      await bad.text();
      const health = (await (await fetch(`${url}/healthz`)).json()) as { memory: { tensors: number } };
      assert.ok(health.memory.tensors > 0, 'worker tensors are counted');
    } finally {
      await server.close();
      await pool.dispose();
      await inThread.dispose();
    }
    await assert.rejects(
      WorkerPoolPipeline.load({ emotionModel: '/nonexistent/emotion', genderModel: models.gender }, 1),
      /no emotion model at "\/nonexistent\/emotion"/,
    );
  });
});

describe('time limits on the worker-thread pool', () => {
  test('a call past its time limit stops its busy worker, which is replaced; later calls and requests are answered', async () => {
    const { WorkerPoolPipeline } = await import('../../src/server/worker-pool.js');
    const pool = await WorkerPoolPipeline.load({ emotionModel: models.emotion, genderModel: models.gender }, 1);
    // A 3000x3000 photo-sized image: copying it to the worker and detecting on it takes far longer than
    // the few milliseconds before the abort, so the worker is still busy with it when the limit passes.
    const side = 3000;
    const big = { data: new Uint8Array(side * side * 3).map((_, i) => (i * 7) % 251), width: side, height: side, channels: 3 as const };
    const small = await sharp(await faceLike())
      .raw()
      .toBuffer({ resolveWithObject: true });
    const face = { data: new Uint8Array(small.data), width: small.info.width, height: small.info.height, channels: 3 as const };
    try {
      const expected = await pool.classify(face, { crops: true });
      const ac = new AbortController();
      const call = pool.classify(big, {}, ac.signal);
      setTimeout(() => ac.abort(new Error('past the limit')), 5);
      await assert.rejects(call, /past the limit/);
      assert.equal(pool.cancelled, 1);
      // The next call waits for the replacement worker instead of failing for want of one.
      assert.deepEqual(await pool.classify(face, { crops: true }), expected);
      assert.equal(pool.restarts, 1);
      assert.equal(pool.size, 1);
      // An already-aborted signal never reaches a worker.
      const pre = new AbortController();
      pre.abort(new Error('too late'));
      await assert.rejects(pool.classify(face, { crops: true }, pre.signal), /too late/);
      assert.equal(pool.cancelled, 1);

      // Over HTTP: the 503 arrives at the limit and the queue slot is free once the worker is stopped. The
      // request's image is small (decoding it, inside the slot, takes a millisecond); the pool is handed
      // the big one, so the worker is busy when the 50 ms limit passes.
      const onBig: ServerPipeline = {
        detectorName: pool.detectorName,
        models: () => pool.models(),
        annotate: (img, r, signal) => pool.annotate(img, r, signal),
        dispose: async () => undefined,
        classify: (_img, opts, signal) => pool.classify(big, opts, signal),
      };
      const server = await buildServer({ pipeline: onBig, logger: false, limits: { timeoutMs: 50 } });
      const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const res = await fetch(`${url}/v1/classify`, { method: 'POST', body: new Uint8Array(await faceLike()), headers: { 'content-type': 'image/jpeg' } });
        assert.equal(res.status, 503, await res.text());
        const queue = async () => ((await (await fetch(`${url}/healthz`)).json()) as { queue: { active: number; timedOut: number } }).queue;
        for (let i = 0; i < 100 && (await queue()).active > 0; i++) await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual({ active: (await queue()).active, timedOut: (await queue()).timedOut }, { active: 0, timedOut: 1 });
        assert.equal(pool.cancelled, 2);
      } finally {
        await server.close();
      }
      assert.deepEqual(await pool.classify(face, { crops: true }), expected);
      assert.equal(pool.restarts, 2);
    } finally {
      await pool.dispose();
    }
  });
});

describe('facecls serve (process)', () => {
  test('starts with the given models, serves, and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [path.join(projectRoot(), 'bin', 'facecls.js'), 'serve', '--port', '0', '--emotion-model', models.emotion, '--gender-model', models.gender],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
        child.stdout.on('data', () => {
          const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]);
          }
        });
      });
      const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string };
      assert.equal(health.status, 'ok');
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src="\/app\/app.js">/);
      const log = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; level: number });
      assert.ok(
        log.some((l) => /facecls serving on/.test(l.msg)),
        'structured JSON log lines',
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, out);
      assert.match(out, /shutting down/);
      assert.match(out, /"msg":"stopped"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('clear errors: missing models, bad port, port in use', async () => {
    const r = runCli(['serve', '--emotion-model', '/nonexistent/emotion', '--gender-model', models.gender], { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no emotion model at "\/nonexistent\/emotion"/);
    const p = runCli(['serve', '--port', '70000'], { timeoutMs: 60_000 });
    assert.equal(p.code, 1);
    assert.match(p.stderr, /--port must be an integer in \[0, 65535\]/);
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise<void>((r2) => blocker.listen(0, '127.0.0.1', () => r2()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const busy = runCli(['serve', '--port', String(port), '--emotion-model', models.emotion, '--gender-model', models.gender], { timeoutMs: 60_000 });
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, new RegExp(`cannot listen on 127.0.0.1:${port}: the port is in use`));
    } finally {
      blocker.close();
    }
  });
});
