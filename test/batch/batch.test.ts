/**
 * Batch classification through a real redis-server (private, on a free port) and real `facecls
 * worker` processes: results equal `facecls classify --json`, one per file in input order; SIGTERM
 * finishes the running job; a worker killed with -9 loses nothing; transient download failures are
 * retried with backoff while deterministic ones are results; CLI errors are one line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import sharp from 'sharp';
import { readCounters } from '../../src/batch/store.js';
import { runCli } from '../helpers/cli.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { tmpDir } from '../helpers/tmp.js';
import { encoder, frame, randomModels, utkSkip } from '../pipeline/fixtures.js';
import { batchCli, killWorkers, sleep, startWorkerProc, until } from './helpers.js';

const skip = redisSkip() || utkSkip();

async function modelArgs(): Promise<string[]> {
  const m = await randomModels();
  return ['--emotion-model', m.emotion, '--gender-model', m.gender];
}

/** n composed photos (0-3 UTKFace faces each) in dir; returns their paths. */
async function photos(dir: string, n: number, seed: number): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = await frame(i % 4, seed + i, 60, 160);
    const file = path.join(dir, `p${String(i).padStart(3, '0')}.jpg`);
    await encoder(f.image).resize(320, 240).jpeg({ quality: 85 }).toFile(file);
    files.push(file);
  }
  return files;
}

const jsonLines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('batch queue', { skip }, () => {
  let redis: TestRedis;
  let dir: string;
  let files: string[];
  let expected: Array<Record<string, unknown>>;

  before(async () => {
    redis = await startRedis();
    dir = tmpDir('facecls-batch-');
    files = await photos(dir, 24, 500);
    fs.writeFileSync(path.join(dir, 'corrupt.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    fs.writeFileSync(path.join(dir, 'empty.png'), '');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#369' } })
      .png()
      .toFile(path.join(dir, 'plain.png'));
    files.splice(5, 0, path.join(dir, 'corrupt.jpg'), path.join(dir, 'missing.jpg'));
    files.splice(17, 0, path.join(dir, 'empty.png'), path.join(dir, 'plain.png'));
    const cl = runCli(['classify', '--json', ...(await modelArgs()), ...files]);
    assert.equal(cl.code, 1, cl.stderr);
    expected = jsonLines(cl.stdout);
    assert.equal(expected.length, files.length);
  });
  after(async () => {
    killWorkers();
    await redis?.stop();
  });

  test('submit returns an id at once; one worker; results equal classify --json, one per file in input order; CSV as classify --csv', async () => {
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, files.slice(10).join('\n') + '\n\n');
    const sub = batchCli(redis.url, ['batch', 'submit', ...files.slice(0, 10), '--files-from', list, '--chunk-size', '4', ...(await modelArgs())]);
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim();
    assert.match(id, /^[\w-]+$/);
    assert.match(
      sub.stderr,
      new RegExp(`batch ${id}: ${files.length} input\\(s\\) \\(${files.length} image\\(s\\), 0 video\\(s\\)\\) in ${Math.ceil(files.length / 4)} job\\(s\\)`),
    );
    const before = JSON.parse(batchCli(redis.url, ['batch', 'status', id, '--json']).stdout) as Record<string, unknown>;
    assert.deepEqual([before.done, before.pending, before.finished, before.workers], [0, files.length, false, 0]);
    const early = batchCli(redis.url, ['batch', 'results', id]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, new RegExp(`^facecls: error: batch ${id} is not finished: ${files.length} of ${files.length} file\\(s\\) pending`));

    const w = startWorkerProc(redis.url);
    await w.ready;
    await until(async () => (await readCounters(redis.client, id)).jobs === Math.ceil(files.length / 4), 120_000, 'the batch');
    const st = JSON.parse(batchCli(redis.url, ['batch', 'status', id, '--json']).stdout) as Record<string, unknown>;
    assert.deepEqual([st.done, st.failed, st.pending, st.finished, st.workers], [files.length, 3, 0, true, 1]);
    assert.ok(Number(st.filesPerSecond) > 0);
    assert.match(
      batchCli(redis.url, ['batch', 'status', id]).stdout,
      new RegExp(
        `batch ${id} \\[#+\\] 100\\.0% \\| ${files.length} done \\(3 failed\\), 0 pending of ${files.length} files .* files/s \\| finished \\| 1 worker\\(s\\) connected`,
      ),
    );

    const res = batchCli(redis.url, ['batch', 'results', id, '--json']);
    assert.equal(res.code, 1, 'failed inputs give exit code 1, as classify');
    assert.match(res.stderr, new RegExp(`3 of ${files.length} input\\(s\\) failed`));
    assert.deepEqual(jsonLines(res.stdout), expected);
    const csv = batchCli(redis.url, ['batch', 'results', id, '--csv']);
    const csvClassify = runCli(['classify', '--csv', ...(await modelArgs()), ...files]);
    assert.equal(csv.stdout, csvClassify.stdout);

    w.proc.kill('SIGTERM');
    assert.deepEqual(await w.exited, { code: 0, signal: null });
  });

  test('SIGTERM finishes the running job and stops; a worker killed with -9 loses nothing (another takes its job after the stall interval)', async () => {
    const many = Array.from({ length: 6 }, () => files).flat(); // 156 entries, the same files repeated
    const sub = batchCli(redis.url, ['batch', 'submit', '--files-from', '-', '--chunk-size', '6', ...(await modelArgs())], { input: many.join('\n') });
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim();
    const jobs = Math.ceil(many.length / 6);

    // SIGTERM while a job runs: that job completes (its results are written), then the worker exits 0.
    const a = startWorkerProc(redis.url, ['--stall-seconds', '2']);
    await a.ready;
    await until(async () => (await readCounters(redis.client, id)).jobs >= 1, 60_000, 'a first job');
    a.proc.kill('SIGTERM');
    const doneAtTerm = (await readCounters(redis.client, id)).jobs;
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.match(a.stderr(), /SIGTERM: finishing the running job\(s\), then stopping[\s\S]*stopped/);
    const afterTerm = await readCounters(redis.client, id);
    assert.ok(afterTerm.jobs >= doneAtTerm && afterTerm.jobs <= doneAtTerm + 1, `${afterTerm.jobs} jobs after SIGTERM at ${doneAtTerm}`);
    assert.equal(afterTerm.files, afterTerm.jobs * 6, 'every job taken was finished');
    assert.equal(await redis.client.llen('bull:facecls:active'), 0, 'no job left active');

    // kill -9 in the middle of a job; a second worker finishes the batch, the killed job included.
    const b = startWorkerProc(redis.url, ['--stall-seconds', '2']);
    await b.ready;
    const base = (await readCounters(redis.client, id)).jobs;
    await until(async () => (await readCounters(redis.client, id)).jobs >= base + 2, 60_000, 'two more jobs');
    await sleep(150); // inside the next job
    b.proc.kill('SIGKILL');
    assert.equal((await b.exited).signal, 'SIGKILL');
    const c = startWorkerProc(redis.url, ['--stall-seconds', '2']);
    await c.ready;
    await until(async () => (await readCounters(redis.client, id)).jobs === jobs, 120_000, 'the batch to finish');
    const res = batchCli(redis.url, ['batch', 'results', id]);
    const lines = jsonLines(res.stdout);
    assert.equal(lines.length, many.length, 'exactly one result per entry');
    assert.deepEqual(lines, Array.from({ length: 6 }, () => expected).flat());
    const counters = await readCounters(redis.client, id);
    assert.deepEqual([counters.files, counters.failed], [many.length, 18], 'each file counted once');
    c.proc.kill('SIGTERM');
    assert.equal((await c.exited).code, 0);
  });

  test('transient download failures are retried with backoff; a 404 or a corrupt download is a result at once', async () => {
    const photo = fs.readFileSync(files[3]);
    const hits: Record<string, number> = {};
    const server = http.createServer((req, res) => {
      const p = req.url ?? '';
      hits[p] = (hits[p] ?? 0) + 1;
      if (p === '/flaky.jpg' && hits[p] <= 2) res.writeHead(503).end('busy');
      else if (p === '/flaky.jpg' || p === '/ok.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
      else if (p === '/garbage.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end('not a jpeg');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const urls = ['/ok.jpg', '/flaky.jpg', '/gone.jpg', '/garbage.jpg'].map((p) => base + p);
      const sub = batchCli(redis.url, ['batch', 'submit', ...urls, '--chunk-size', '1', ...(await modelArgs())]);
      assert.equal(sub.code, 0, sub.stderr);
      const id = sub.stdout.trim();
      const w = startWorkerProc(redis.url);
      await w.ready;
      // The test process serves the downloads, so it waits without blocking (no spawnSync here).
      await until(async () => (await readCounters(redis.client, id)).jobs === 4, 60_000, 'the batch');
      w.proc.kill('SIGTERM');
      await w.exited;
      assert.deepEqual(hits, { '/ok.jpg': 1, '/flaky.jpg': 3, '/gone.jpg': 1, '/garbage.jpg': 1 });
      const lines = jsonLines(batchCli(redis.url, ['batch', 'results', id]).stdout);
      assert.deepEqual(
        lines.map((l) => l.file),
        urls,
      );
      assert.deepEqual(lines[0].faces, expected[3].faces);
      assert.deepEqual(lines[1].faces, expected[3].faces);
      assert.equal(lines[2].error, `cannot download "${urls[2]}": HTTP 404 Not Found`);
      assert.match(String(lines[3].error), /^cannot decode image ".*garbage\.jpg": not an image/);
    } finally {
      server.close();
    }
  });

  test('one-line errors: unknown batch, unreachable Redis, bad URL, nothing to submit', async () => {
    const unknown = batchCli(redis.url, ['batch', 'status', 'nosuchbatch']);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'facecls: error: no batch "nosuchbatch" on this Redis server\n');
    const down = runCli(['batch', 'status', 'x', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^facecls: error: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    assert.equal(down.stderr.split('\n').filter(Boolean).length, 1);
    const bad = runCli(['worker', '--redis', 'http://x']);
    assert.equal(bad.stderr, 'facecls: error: --redis must be a redis:// or rediss:// URL, got "http://x"\n');
    const none = batchCli(redis.url, ['batch', 'submit', '--files-from', '-'], { input: '\n' });
    assert.equal(none.stderr, 'facecls: error: nothing to submit: give inputs and/or --files-from <file>\n');
    const opt = batchCli(redis.url, ['batch', 'submit', 'x.jpg', '--tiles', 'sometimes']);
    assert.equal(
      opt.stderr,
      "facecls: error: option '--tiles <mode>' argument 'sometimes' is invalid. Allowed choices are auto, always, dense, off.\n(add --help for the options)\n",
    );
  });
});
