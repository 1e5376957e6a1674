/**
 * The HTTP server keeps no state between requests (no sessions, no cookies, nothing learnt from
 * earlier requests), so any number of instances run behind any load balancer: two `facecls serve`
 * processes on different ports behind a round-robin proxy answer every request exactly as one
 * instance does, whichever instance takes it, and either can go away.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../../src/data/paths.js';
import { saveZooModels } from './fixture-pipeline.js';

interface Instance {
  proc: ChildProcess;
  url: string;
}

async function serve(models: { emotion: string; gender: string }): Promise<Instance> {
  const proc = spawn(
    process.execPath,
    [path.join(projectRoot(), 'bin', 'facecls.js'), 'serve', '--port', '0', '--emotion-model', models.emotion, '--gender-model', models.gender],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  process.on('exit', () => proc.kill('SIGKILL'));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 90_000);
    const look = (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', look);
    proc.stderr!.on('data', look);
    proc.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return { proc, url };
}

/** The simplest load balancer: each request to the next backend in turn (skipping one that is down). */
function roundRobin(backends: string[]): Promise<{ url: string; served: string[]; close: () => void }> {
  let next = 0;
  const served: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      for (let tries = 0; tries < backends.length; tries++) {
        const target = backends[next++ % backends.length];
        try {
          const r = await fetch(target + req.url, {
            method: req.method,
            headers: { 'content-type': req.headers['content-type'] ?? '' },
            body: req.method === 'POST' ? new Uint8Array(body) : undefined,
          });
          served.push(target);
          const headers: Record<string, string> = {};
          r.headers.forEach((v, k) => (headers[k] = v));
          delete headers['content-encoding'];
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(r.status, headers).end(Buffer.from(await r.arrayBuffer()));
          return;
        } catch {
          // backend down: the next one
        }
      }
      res.writeHead(502).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, served, close: () => server.close() }),
    ),
  );
}

async function faceLike(seed: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160"><rect width="100%" height="100%" fill="#6a8"/>
    <ellipse cx="80" cy="80" rx="${50 + seed}" ry="70" fill="#dcb"/><circle cx="60" cy="65" r="8" fill="#333"/><circle cx="100" cy="65" r="8" fill="#333"/>
    <rect x="60" y="110" width="${30 + 2 * seed}" height="8" fill="#944"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

describe('stateless server: two instances behind a round-robin balancer', () => {
  let a: Instance;
  let b: Instance;
  before(async () => {
    const models = await saveZooModels();
    [a, b] = await Promise.all([serve(models), serve(models)]);
  });
  after(() => {
    a?.proc.kill('SIGKILL');
    b?.proc.kill('SIGKILL');
  });

  test('every request answered the same by either instance, in any order; no cookies; one instance gone, the other serves', async () => {
    assert.notEqual(a.url, b.url);
    const lb = await roundRobin([a.url, b.url]);
    try {
      const images = await Promise.all([0, 1, 2, 3].map(faceLike));
      const post = (base: string, p: string, body: Buffer) =>
        fetch(base + p, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'image/jpeg' } });
      // What one instance answers on its own, image by image...
      const direct: unknown[] = [];
      for (const img of images) direct.push(await (await post(a.url, '/v1/classify?crops=true', img)).json());
      // ...is what the pair answers, whichever instance takes each request (each image goes to both, in turns).
      for (let round = 0; round < 2; round++) {
        for (const [i, img] of images.entries()) {
          const r = await post(lb.url, '/v1/classify?crops=true', img);
          assert.equal(r.status, 200);
          assert.equal(r.headers.get('set-cookie'), null);
          assert.deepEqual(await r.json(), direct[i]);
        }
      }
      assert.deepEqual(new Set(lb.served), new Set([a.url, b.url]));
      assert.equal(lb.served.filter((u) => u === a.url).length, lb.served.filter((u) => u === b.url).length);
      const models = await (await fetch(lb.url + '/v1/models')).json();
      assert.deepEqual(await (await fetch(lb.url + '/v1/models')).json(), models, 'same model list from both');

      // One instance stops: the balancer's next pick fails over and the answers stay the same.
      a.proc.kill('SIGTERM');
      await new Promise((r) => a.proc.once('exit', r));
      for (const [i, img] of images.entries()) assert.deepEqual(await (await post(lb.url, '/v1/classify?crops=true', img)).json(), direct[i]);
    } finally {
      lb.close();
    }
  });
});
