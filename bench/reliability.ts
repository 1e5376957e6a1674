/**
 * `npm run bench:reliability`: the reliability targets of issue 22, measured on a `facecls serve`
 * process and on `facecls classify`, printed as a table (target, measured, pass).
 *
 *  png      32 connections posting a 6000x6000 PNG (one colour, 114 KB, 36 megapixels), 64 requests: peak
 *           server RSS <= 1 GiB, every request answered 200 or 503 within the time limit (+1 s), RSS under
 *           400 MiB afterwards.
 *  face     8, then 128 connections posting a 640x480 face photo: successful requests/s at 128 >= 90% of
 *           the figure at 8; GET /healthz p99 <= 100 ms throughout (polled every 50 ms on its own connection).
 *  fuzz     10,000 fuzzed requests (test/helpers/fuzz.ts: mutated JPEG/PNG/GIF/WebP, multipart forms,
 *           query strings) from 8 clients: 0 server crashes, 0 5xx, 0 hangs (no answer within 60 s).
 *  classify `facecls classify --crops --json` over 100,000 paths from --files-from and over 5,000 paths
 *           as arguments: exit without a signal, peak RSS of the process.
 *
 * Options: --only png,face,fuzz,classify  --duration <s per load level, 15>  --fuzz <n, 10000>
 *          --list <n, 100000>  --args <n, 5000>  --seed <fast-check seed, 22>
 * The server runs the shipped models (models/emotion, models/gender) with default limits and the rate
 * limit off (all load comes from one address). Figures depend on the machine and on other load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon, { type Result as LoadResult } from 'autocannon';
import fc from 'fast-check';
import sharp from 'sharp';
import { datasetPath, projectRoot } from '../src/data/paths.js';
import { percentile } from '../src/framework/model-bench.js';
import { DEFAULT_LIMITS } from '../src/server/limits.js';
import { checkAnswer, fuzzRequest, seedImages, send } from '../test/helpers/fuzz.js';
import { freePort } from '../src/batch/redis-server.js';
import { argOr } from './args.js';

const only = new Set(argOr('only', 'png,face,fuzz,classify').split(','));
const duration = Number(argOr('duration', '15'));
const fuzzCount = Number(argOr('fuzz', '10000'));
const listCount = Number(argOr('list', '100000'));
const argCount = Number(argOr('args', '5000'));
const seed = Number(argOr('seed', '22'));
const BIN = path.join(projectRoot(), 'bin', 'facecls.js');
const MiB = 2 ** 20;

interface Row {
  target: string;
  measured: string;
  pass: boolean;
}
const rows: Row[] = [];
const row = (target: string, measured: string, pass: boolean) => {
  rows.push({ target, measured, pass });
  console.log(`  ${pass ? 'PASS' : 'FAIL'}  ${target}: ${measured}`);
};

/** VmRSS and VmHWM (peak) of a process, in bytes; undefined once it has exited. */
function procMemory(pid: number): { rss: number; peak: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    // A process that has exited but not been reaped (a zombie) has no Vm lines: 0.
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Sample a process's memory every `ms`, keeping the highest RSS seen. */
function memorySampler(pid: number, ms = 50): { stop: () => { max: number; peak: number } } {
  let max = 0;
  let peak = 0;
  const t = setInterval(() => {
    const m = procMemory(pid);
    if (m) {
      max = Math.max(max, m.rss);
      peak = Math.max(peak, m.peak);
    }
  }, ms);
  return {
    stop: () => {
      clearInterval(t);
      const m = procMemory(pid);
      if (m) peak = Math.max(peak, m.peak);
      return { max, peak };
    },
  };
}

async function startServer(): Promise<{ child: ChildProcess; base: string; exited: () => boolean }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--log-level', 'error', '--rate-limit', '0'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (exited) throw new Error(`server exited with code ${child.exitCode} while starting`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { child, base, exited: () => exited };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('server did not start within 180 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopServer(s: { child: ChildProcess; exited: () => boolean }): Promise<void> {
  if (s.exited()) return;
  const done = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await done;
}

/** A 640x480 JPEG with a UTKFace face pasted on a flat background, or a drawn face without the dataset. */
async function facePhoto(): Promise<Buffer> {
  const utk = datasetPath('utkface');
  const chip = fs.existsSync(utk) ? fs.readdirSync(utk).find((f) => f.endsWith('.chip.jpg') && f.startsWith('28_0_4_')) : undefined;
  const bg = sharp({ create: { width: 640, height: 480, channels: 3, background: '#5a7a8c' } });
  if (chip)
    return bg
      .composite([{ input: await sharp(path.join(utk, chip)).resize(220, 220).toBuffer(), left: 210, top: 130 }])
      .jpeg({ quality: 90 })
      .toBuffer();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect width="100%" height="100%" fill="#5a7a8c"/>
    <ellipse cx="320" cy="240" rx="95" ry="125" fill="#dcb"/><circle cx="285" cy="215" r="12" fill="#333"/><circle cx="355" cy="215" r="12" fill="#333"/>
    <rect x="290" y="300" width="60" height="12" fill="#944"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

async function pngPhase(): Promise<void> {
  console.log('\n32 connections posting a 6000x6000 PNG');
  const png = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#7a6a5a' } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  const s = await startServer();
  try {
    const idle = procMemory(s.child.pid!)!.rss;
    const mem = memorySampler(s.child.pid!);
    const limitS = DEFAULT_LIMITS.timeoutMs / 1000;
    // A fixed number of requests (two per connection), so every one is answered and counted.
    const r = await autocannon({
      url: `${s.base}/v1/classify`,
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png' },
      connections: 32,
      amount: 64,
      timeout: limitS + 30,
    });
    const codes = r.statusCodeStats ?? {};
    const ok = codes['200']?.count ?? 0;
    const busy = codes['503']?.count ?? 0;
    const other = Object.entries(codes)
      .filter(([c]) => c !== '200' && c !== '503')
      .reduce((n, [, v]) => n + v.count, 0);
    // Wait for the last jobs, then a few idle seconds for the allocator to give memory back.
    for (let i = 0; i < 120; i++) {
      const h = (await (await fetch(`${s.base}/healthz`)).json()) as { queue: { active: number; queued: number } };
      if (h.queue.active === 0 && h.queue.queued === 0) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    await new Promise((res) => setTimeout(res, 5000));
    const { max, peak } = mem.stop();
    const after = procMemory(s.child.pid!)!.rss;
    console.log(
      `  PNG ${png.length} bytes; ${r.requests.total} requests in ${r.duration.toFixed(0)} s: ${ok} x 200, ${busy} x 503, ${other} other, ${r.errors} errors, ${r.timeouts} timeouts; p99 ${r.latency.p99} ms; idle RSS ${(idle / MiB).toFixed(0)} MiB`,
    );
    row(
      '6000x6000 PNG x32: peak RSS <= 1024 MiB',
      `${(Math.max(max, peak) / MiB).toFixed(0)} MiB (sampled max ${(max / MiB).toFixed(0)} MiB)`,
      Math.max(max, peak) <= 1024 * MiB,
    );
    row(
      `6000x6000 PNG x32: every request 200 or 503 within ${limitS} s`,
      `${ok} x 200, ${busy} x 503, ${other} other, ${r.errors} errors (${r.timeouts} timeouts), max latency ${r.latency.max} ms`,
      other === 0 && r.errors === 0 && r.latency.max <= limitS * 1000 + 1000 && ok > 0,
    );
    row('6000x6000 PNG x32: RSS after < 400 MiB', `${(after / MiB).toFixed(0)} MiB`, after < 400 * MiB);
  } finally {
    await stopServer(s);
  }
}

async function facePhase(): Promise<void> {
  console.log('\n8 then 128 connections posting a face photo');
  const jpeg = await facePhoto();
  const s = await startServer();
  try {
    const url = `${s.base}/v1/classify`;
    const load = (connections: number, d: number) =>
      autocannon({ url, method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' }, connections, duration: d, timeout: 40 });
    await load(4, 3); // warm-up
    const health: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t0 = performance.now();
        try {
          await (await fetch(`${s.base}/healthz`)).arrayBuffer();
          health.push(performance.now() - t0);
        } catch {
          health.push(Infinity);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const r8 = await load(8, duration);
    const h8 = percentile(health.splice(0), 99);
    const r128 = await load(128, duration);
    const h128 = percentile(health.splice(0), 99);
    polling = false;
    await poller;
    const ok = (r: LoadResult) => (r['2xx'] ?? 0) / duration;
    const ratio = ok(r128) / ok(r8);
    console.log(
      `  photo ${jpeg.length} bytes; 8 connections: ${ok(r8).toFixed(1)} ok/s (non-2xx ${r8.non2xx}); 128: ${ok(r128).toFixed(1)} ok/s, ${r128.non2xx} non-2xx (503), ${r128.errors} errors`,
    );
    row('face photo: ok/s at 128 connections >= 90% of 8', `${ok(r128).toFixed(1)} vs ${ok(r8).toFixed(1)} ok/s = ${(ratio * 100).toFixed(0)}%`, ratio >= 0.9);
    row('face photo: /healthz p99 <= 100 ms throughout', `p99 ${h8.toFixed(1)} ms at 8 connections, ${h128.toFixed(1)} ms at 128`, Math.max(h8, h128) <= 100);
  } finally {
    await stopServer(s);
  }
}

async function fuzzPhase(): Promise<void> {
  console.log(`\n${fuzzCount} fuzzed requests from 8 clients`);
  const seeds = await seedImages();
  const inputs = fc.sample(fuzzRequest(seeds), { numRuns: fuzzCount, seed });
  const s = await startServer();
  const mem = memorySampler(s.child.pid!, 200);
  let next = 0;
  let fivexx = 0;
  let hangs = 0;
  let bad = 0;
  let crashes = 0;
  const examples: string[] = [];
  const statuses = new Map<number, number>();
  const t0 = Date.now();
  try {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < inputs.length) {
          const req = inputs[next++];
          try {
            const res = await send(s.base, req, 60_000);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const problem = checkAnswer(req, res.status, res.type, res.body);
            if (res.status >= 500) fivexx++;
            else if (problem) bad++;
            if (problem && examples.length < 5) examples.push(problem);
          } catch (err) {
            if ((err as Error).name === 'TimeoutError') hangs++;
            else if (s.exited()) {
              crashes++;
              throw new Error('the server process died', { cause: err });
            } else if (examples.length < 5) examples.push(`request failed: ${(err as Error).message}`);
          }
        }
      }),
    );
  } catch (err) {
    examples.push((err as Error).message);
  } finally {
    if (s.exited()) crashes = Math.max(crashes, 1);
    const { max } = mem.stop();
    await stopServer(s);
    console.log(
      `  ${next} sent in ${((Date.now() - t0) / 1000).toFixed(0)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; server RSS max ${(max / MiB).toFixed(0)} MiB`,
    );
    for (const e of examples) console.log(`  example: ${e}`);
    row(
      `${fuzzCount} fuzzed inputs: 0 crashes, 0 5xx, 0 hangs`,
      `${crashes} crashes, ${fivexx} 5xx, ${hangs} hangs, ${bad} malformed answers`,
      crashes === 0 && fivexx === 0 && hangs === 0 && bad === 0,
    );
  }
}

/** Run facecls with its own memory sampled; resolves with the exit code or signal and the peak RSS. */
function runClassify(args: string[], stdin?: string): Promise<{ code: number | null; signal: string | null; peak: number; lines: number; seconds: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, 'classify', '--crops', '--json', '--no-progress', ...args], {
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const mem = memorySampler(child.pid!, 100);
    let lines = 0;
    child.stdout!.on('data', (d: Buffer) => {
      for (const b of d) if (b === 10) lines++;
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    if (stdin) child.stdin!.end(stdin);
    child.on('exit', (code, signal) => {
      const { max, peak } = mem.stop();
      if (code !== 0 && code !== 1) console.log(`  stderr: ${err}`);
      resolve({ code, signal, peak: Math.max(max, peak), lines, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

async function classifyPhase(): Promise<void> {
  console.log(`\nfacecls classify over ${listCount} paths (--files-from) and ${argCount} paths (arguments)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facecls-bench-rel-'));
  try {
    // 200 distinct 64x64 face-crop-like images, cycled: every path is a real image to classify.
    const files: string[] = [];
    for (let i = 0; i < 200; i++) {
      const f = path.join(dir, `crop-with-a-longish-name-${String(i).padStart(4, '0')}.png`);
      await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90 + (i % 120), g: 140, b: 200 - (i % 100) } } })
        .png()
        .toFile(f);
      files.push(f);
    }
    const list = path.join(dir, 'list.txt');
    const out = fs.createWriteStream(list);
    for (let i = 0; i < listCount; i++) out.write(files[i % files.length] + '\n');
    await new Promise((r) => out.end(r));
    const a = await runClassify(['--files-from', list]);
    console.log(`  --files-from: exit ${a.code ?? a.signal}, ${a.lines} lines in ${a.seconds.toFixed(0)} s, peak RSS ${(a.peak / MiB).toFixed(0)} MiB`);
    row(
      `classify --files-from, ${listCount} paths: no crash, memory bounded`,
      `exit ${a.code ?? a.signal}, ${a.lines} results, peak RSS ${(a.peak / MiB).toFixed(0)} MiB`,
      a.code === 0 && a.lines === listCount && a.peak < 1024 * MiB,
    );
    const args = Array.from({ length: argCount }, (_, i) => files[i % files.length]);
    const b = await runClassify(args);
    console.log(
      `  arguments: ${args.join(' ').length} bytes of arguments; exit ${b.code ?? b.signal}, ${b.lines} lines in ${b.seconds.toFixed(0)} s, peak RSS ${(b.peak / MiB).toFixed(0)} MiB`,
    );
    row(
      `classify with ${argCount} paths as arguments: no crash`,
      `exit ${b.code ?? b.signal}, ${b.lines} results, ${(args.join(' ').length / 1024).toFixed(0)} KB of arguments, peak RSS ${(b.peak / MiB).toFixed(0)} MiB`,
      b.code === 0 && b.lines === argCount,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const load = os.loadavg()[0];
  console.log(`facecls reliability bench: ${os.availableParallelism()} cores, load average ${load.toFixed(2)} at start, node ${process.version}`);
  if (only.has('png')) await pngPhase();
  if (only.has('face')) await facePhase();
  if (only.has('fuzz')) await fuzzPhase();
  if (only.has('classify')) await classifyPhase();
  const w = Math.max(...rows.map((r) => r.target.length));
  console.log(`\n${'target'.padEnd(w)}  result  measured`);
  for (const r of rows) console.log(`${r.target.padEnd(w)}  ${r.pass ? 'pass  ' : 'FAIL  '}  ${r.measured}`);
  console.log(`\nload average ${os.loadavg()[0].toFixed(2)} at the end (other work on the machine changes the figures)`);
  if (rows.some((r) => !r.pass)) process.exitCode = 1;
}

await main();
