/**
 * `node dist/bench/batch.js`: the batch queue's targets, measured on a private redis-server with real
 * `facecls worker` processes, printed as a table:
 *
 *  1. one worker through the queue vs `facecls classify` on the same photos (UTKFace files by path,
 *     the first --photos in name order): images/s of each, whole commands (model loading included);
 *  2. two workers vs one worker, same photos, same run;
 *  3. fault test: --fault-images photos, 3 workers, one of them killed with -9 every --fault-interval
 *     seconds (in turn) and restarted: every file exactly one result, in order, equal to `classify`'s;
 *  4. --million queued entries (the photo list repeated): submit time, Redis memory, `batch status` time.
 *  --chunks 1,8,32,128 adds images/s of one worker per chunk size (how DEFAULT_CHUNK_SIZE was chosen).
 *
 * Options: --photos 2000 --fault-images 20000 --fault-interval 10 --million 1000000 --chunks <list>
 *          --skip throughput,fault,million  --json
 * The models are the shipped ones (models/emotion, models/gender). Nothing is written outside a temp dir.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startPrivateRedis, type PrivateRedis } from '../src/batch/redis-server.js';
import { BatchReader } from '../src/batch/results.js';
import { readCounters } from '../src/batch/store.js';
import { datasetPath, projectRoot } from '../src/data/paths.js';
import { argOr } from './args.js';

const PHOTOS = Number(argOr('photos', '2000'));
const FAULT_IMAGES = Number(argOr('fault-images', '20000'));
const FAULT_INTERVAL = Number(argOr('fault-interval', '10'));
const MILLION = Number(argOr('million', '1000000'));
const CHUNKS = argOr('chunks', '').split(',').filter(Boolean).map(Number);
const SKIP = new Set(argOr('skip', '').split(','));
const JSON_OUT = process.argv.includes('--json');
const BIN = path.join(projectRoot(), 'bin', 'facecls.js');
const log = (s: string) => process.stderr.write(`[bench batch] ${s}\n`);

interface Row {
  target: string;
  measured: string;
  goal: string;
  ok: boolean;
}

function run(
  args: string[],
  opts: { stdout?: string; env?: Record<string, string>; input?: string } = {},
): Promise<{ code: number | null; stderr: string; stdout: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const out = opts.stdout ? fs.openSync(opts.stdout, 'w') : 'pipe';
    const p = spawn(process.execPath, [BIN, ...args], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', out, 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    let stderr = '';
    let stdout = '';
    p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    p.on('exit', (code) => {
      if (typeof out === 'number') fs.closeSync(out);
      resolve({ code, stderr, stdout, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

const children = new Set<ReturnType<typeof spawn>>();
process.on('exit', () => children.forEach((p) => p.kill('SIGKILL')));

function startWorker(redis: PrivateRedis, extra: string[] = []) {
  const p = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr!.on('data', () => {});
  children.add(p);
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  void exited.then(() => children.delete(p));
  return { p, exited };
}

async function waitBatch(redis: PrivateRedis, id: string, jobs: number): Promise<void> {
  const reader = new BatchReader(redis.client, redis.url);
  try {
    for (let k = 1; (await readCounters(redis.client, id)).jobs < jobs; k++) {
      await new Promise((r) => setTimeout(r, 100));
      if (k % 20 === 0) await reader.settleFailed(id); // jobs BullMQ gave up on become error results
    }
  } finally {
    await reader.close();
  }
}

/** Submit a list, run n workers from scratch until the batch is done; images/s over the whole run. */
async function queueRun(redis: PrivateRedis, list: string, n: number, chunk?: number): Promise<{ id: string; seconds: number; rate: number }> {
  const t0 = performance.now();
  const workers = Array.from({ length: n }, () => startWorker(redis));
  const sub = await run(['batch', 'submit', '--files-from', list, '--redis', redis.url, '--json', ...(chunk ? ['--chunk-size', String(chunk)] : [])]);
  if (sub.code !== 0) throw new Error(sub.stderr);
  const s = JSON.parse(sub.stdout) as { id: string; jobs: number; entries: number };
  await waitBatch(redis, s.id, s.jobs);
  const seconds = (performance.now() - t0) / 1000;
  for (const w of workers) w.p.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  return { id: s.id, seconds, rate: s.entries / seconds };
}

/** Lines of `batch results` equal to classify's JSON lines (same order), and duplicates/missing. */
async function compare(redis: PrivateRedis, id: string, classifyOut: string, dir: string): Promise<{ lines: number; equal: number; expected: number }> {
  const out = path.join(dir, `results-${id}.jsonl`);
  await run(['batch', 'results', id, '--redis', redis.url], { stdout: out });
  const a = fs.readFileSync(out, 'utf8').trim().split('\n');
  const b = fs.readFileSync(classifyOut, 'utf8').trim().split('\n');
  let equal = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] === b[i]) equal++;
  return { lines: a.length, equal, expected: b.length };
}

function photoDir(dir: string, n: number): { dir: string; list: string } {
  const utk = datasetPath('utkface');
  const names = fs
    .readdirSync(utk)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n);
  if (names.length < n) throw new Error(`only ${names.length} UTKFace photos at ${utk}`);
  const d = path.join(dir, `photos-${n}`);
  fs.mkdirSync(d);
  for (const f of names) fs.symlinkSync(path.join(utk, f), path.join(d, f));
  // classify walks the directory in name order (localeCompare); the list follows the same order.
  const files = fs
    .readdirSync(d)
    .sort((x, y) => x.localeCompare(y))
    .map((f) => path.join(d, f));
  const list = path.join(dir, `photos-${n}.txt`);
  fs.writeFileSync(list, files.join('\n') + '\n');
  return { dir: d, list };
}

/** 1 and 2: one worker vs classify, two workers vs one, results equal to classify's; images/s per chunk size. */
async function throughputRows(redis: PrivateRedis, tmp: string): Promise<Row[]> {
  const rows: Row[] = [];
  const { dir, list } = photoDir(tmp, PHOTOS);
  log(`classify on ${PHOTOS} photos`);
  const ref = path.join(tmp, 'classify.jsonl');
  const cl = await run(['classify', '--json', '--no-progress', dir], { stdout: ref });
  const clRate = PHOTOS / cl.seconds;
  log(`classify: ${cl.seconds.toFixed(1)} s, ${clRate.toFixed(1)} images/s; one worker`);
  const one = await queueRun(redis, list, 1);
  log(`one worker: ${one.seconds.toFixed(1)} s, ${one.rate.toFixed(1)} images/s; two workers`);
  const two = await queueRun(redis, list, 2);
  log(`two workers: ${two.seconds.toFixed(1)} s, ${two.rate.toFixed(1)} images/s`);
  const c1 = await compare(redis, one.id, ref, tmp);
  const c2 = await compare(redis, two.id, ref, tmp);
  rows.push({ target: `classify, ${PHOTOS} photos (images/s)`, measured: clRate.toFixed(1), goal: '(reference)', ok: true });
  rows.push({
    target: 'one worker through the queue / classify',
    measured: `${one.rate.toFixed(1)} images/s = ${((one.rate / clRate) * 100).toFixed(1)}%`,
    goal: '>= 90%',
    ok: one.rate / clRate >= 0.9,
  });
  rows.push({
    target: 'two workers / one worker',
    measured: `${two.rate.toFixed(1)} images/s = ${(two.rate / one.rate).toFixed(2)}x`,
    goal: '>= 1.6x',
    ok: two.rate / one.rate >= 1.6,
  });
  rows.push({
    target: 'queue results = classify --json lines',
    measured: `${c1.equal}/${c1.expected} and ${c2.equal}/${c2.expected} (lines ${c1.lines}, ${c2.lines})`,
    goal: 'all',
    ok: c1.equal === c1.expected && c2.equal === c2.expected && c1.lines === c1.expected && c2.lines === c2.expected,
  });
  for (const chunk of CHUNKS) {
    const r = await queueRun(redis, list, 1, chunk);
    log(`chunk ${chunk}: ${r.rate.toFixed(1)} images/s`);
    rows.push({
      target: `one worker, --chunk-size ${chunk}`,
      measured: `${r.rate.toFixed(1)} images/s = ${((r.rate / clRate) * 100).toFixed(1)}% of classify`,
      goal: '',
      ok: true,
    });
  }
  return rows;
}

/** 3: workers killed -9 in turn while the batch runs; every file one result, equal to classify's. */
async function faultRow(redis: PrivateRedis, tmp: string, extra: Record<string, unknown>): Promise<Row> {
  const { dir, list } = photoDir(tmp, FAULT_IMAGES);
  log(`fault test: classify on ${FAULT_IMAGES} photos (reference)`);
  const ref = path.join(tmp, 'fault-classify.jsonl');
  const cl = await run(['classify', '--json', '--no-progress', dir], { stdout: ref });
  log(`classify: ${cl.seconds.toFixed(1)} s; 3 workers, one killed -9 every ${FAULT_INTERVAL} s`);
  const stall = ['--stall-seconds', '10'];
  const workers = [startWorker(redis, stall), startWorker(redis, stall), startWorker(redis, stall)];
  const sub = await run(['batch', 'submit', '--files-from', list, '--redis', redis.url, '--json']);
  const s = JSON.parse(sub.stdout) as { id: string; jobs: number };
  const t0 = performance.now();
  let kills = 0;
  let done = false;
  const killer = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, FAULT_INTERVAL * 1000));
      if (done) break;
      const k = kills % 3;
      workers[k].p.kill('SIGKILL');
      await workers[k].exited;
      kills++;
      workers[k] = startWorker(redis, stall);
    }
  })();
  await waitBatch(redis, s.id, s.jobs);
  done = true;
  await killer;
  const seconds = (performance.now() - t0) / 1000;
  for (const w of workers) w.p.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  const c = await compare(redis, s.id, ref, tmp);
  const counters = await readCounters(redis.client, s.id);
  extra.fault = { seconds, kills, counters };
  return {
    target: `fault: ${FAULT_IMAGES} photos, 3 workers, kill -9 every ${FAULT_INTERVAL} s (${kills} kills, ${seconds.toFixed(0)} s)`,
    measured: `${c.lines} results for ${FAULT_IMAGES} files, ${c.equal} equal to classify's; ${counters.files} counted`,
    goal: 'one each, all equal',
    ok: c.lines === FAULT_IMAGES && c.equal === FAULT_IMAGES && counters.files === FAULT_IMAGES,
  };
}

/** 4: a million queued entries: submit time, Redis memory, status query and command times. */
async function millionRows(redis: PrivateRedis, tmp: string): Promise<Row[]> {
  const rows: Row[] = [];
  const photos = fs
    .readdirSync(datasetPath('utkface'))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, 2000)
    .map((f) => path.join(datasetPath('utkface'), f));
  const list = path.join(tmp, 'million.txt');
  const fd = fs.openSync(list, 'w');
  for (let i = 0; i < MILLION; i += photos.length) fs.writeSync(fd, photos.slice(0, Math.min(photos.length, MILLION - i)).join('\n') + '\n');
  fs.closeSync(fd);
  const mem0 = Number(/used_memory:(\d+)/.exec(await redis.client.info('memory'))![1]);
  log(`submitting ${MILLION} entries`);
  const sub = await run(['batch', 'submit', '--files-from', list, '--redis', redis.url, '--json']);
  if (sub.code !== 0) throw new Error(sub.stderr);
  const s = JSON.parse(sub.stdout) as { id: string; jobs: number };
  const mem = Number(/used_memory:(\d+)/.exec(await redis.client.info('memory'))![1]) - mem0;
  const st = await run(['batch', 'status', s.id, '--redis', redis.url]);
  log(st.stdout.trim());
  const version = await run(['--version']);
  const reader = new BatchReader(redis.client, redis.url);
  const q0 = performance.now();
  await reader.status(s.id);
  const queryMs = performance.now() - q0;
  await reader.close();
  rows.push({
    target: `submit ${MILLION.toLocaleString('en-US')} entries (${s.jobs} jobs)`,
    measured: `${sub.seconds.toFixed(1)} s`,
    goal: '< 60 s',
    ok: sub.seconds < 60,
  });
  rows.push({ target: 'Redis memory of the queued batch', measured: `${(mem / 2 ** 20).toFixed(0)} MiB`, goal: '< 1024 MiB', ok: mem < 2 ** 30 });
  rows.push({ target: 'batch status on it: the query (BatchReader.status)', measured: `${queryMs.toFixed(0)} ms`, goal: '< 1 s', ok: queryMs < 1000 });
  rows.push({
    target: '`facecls batch status` on it (whole command)',
    measured: `${st.seconds.toFixed(2)} s (\`facecls --version\`: ${version.seconds.toFixed(2)} s)`,
    goal: '< 1 s',
    ok: st.seconds < 1 && st.code === 0,
  });
  return rows;
}

function printRows(rows: Row[], extra: Record<string, unknown>): void {
  const w = [0, 1, 2].map((k) => Math.max(...rows.map((r) => [r.target, r.measured, r.goal][k].length), ['target', 'measured', 'goal'][k].length));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join('  ');
  console.log(line(['target', 'measured', 'goal']) + '  ok');
  console.log(line(w.map((n) => '-'.repeat(n))) + '  --');
  for (const r of rows) console.log(line([r.target, r.measured, r.goal]) + `  ${r.ok ? 'yes' : 'NO'}`);
  console.log(`(${extra.cores} cores; load average at start ${extra.load})`);
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'facecls-bench-batch-'));
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
  const redis = await startPrivateRedis();
  const rows: Row[] = [];
  const extra: Record<string, unknown> = {
    load: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    cores: os.cpus().length,
  };
  try {
    if (!SKIP.has('throughput')) rows.push(...(await throughputRows(redis, tmp)));
    if (!SKIP.has('fault')) rows.push(await faultRow(redis, tmp, extra));
    if (!SKIP.has('million')) rows.push(...(await millionRows(redis, tmp)));
  } finally {
    await redis.stop();
  }
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify({ rows, ...extra }) + '\n');
    return;
  }
  printRows(rows, extra);
}

await main();
