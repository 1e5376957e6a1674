/**
 * `npm run bench:server`: the HTTP service under load on loopback. POST /v1/classify with one
 * 640x480 single-face JPEG (a UTKFace face pasted on a generated background, composed at run time,
 * never stored) at 1, 8 and 32 concurrent connections with autocannon: requests/s and p50/p99
 * latency; then process memory and tf.memory() of the server (GET /healthz) before and after
 * 10,000 requests. Baseline in the same run: the same image through FaceClassifier directly in
 * this process (no HTTP), so the ratio shows what the service adds.
 *
 * Options: --connections 1,8,32  --duration <s per level, 10>  --requests <10000>
 *          --emotion-model <dir> --gender-model <dir> --runtime <onnx|tfjs> --server-concurrency <n> --workers <n>
 * Without trained models in models/, untrained mini-Xception 64x64 models (the paper's real-time
 * architecture; speed does not depend on the weights) are saved to a temp dir and used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { datasetPath, projectRoot } from '../src/data/paths.js';
import { composeFrame, listUtkFaces } from '../src/detect/labelled-set.js';
import { setupBackend } from '../src/engine/backend.js';
import { median, percentile } from '../src/framework/model-bench.js';
import { buildModel } from '../src/framework/zoo.js';
import { EMOTION_LABELS, GENDER_LABELS, saveModel } from '../src/io/model-store.js';
import { defaultModelDir, FaceClassifier } from '../src/pipeline/face-classifier.js';
import { freePort } from '../src/batch/redis-server.js';
import { arg, argOr } from './args.js';

const levels = argOr('connections', '1,8,32').split(',').map(Number);
const duration = Number(argOr('duration', '10'));
const requests = Number(argOr('requests', '10000'));
const runtime = arg('runtime');
const serverConcurrency = arg('server-concurrency');
const serverWorkers = arg('workers');

async function models(): Promise<{ emotion: string; gender: string; note: string }> {
  const e = arg('emotion-model');
  const g = arg('gender-model');
  if (e && g) return { emotion: e, gender: g, note: 'given models' };
  if (fs.existsSync(defaultModelDir('emotion')) && fs.existsSync(defaultModelDir('gender'))) {
    return { emotion: defaultModelDir('emotion'), gender: defaultModelDir('gender'), note: 'shipped models (models/)' };
  }
  await setupBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facecls-bench-server-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const meta = { arch: 'mini-xception', inputSize: 64, channels: 1, preprocessing: { colorSpace: 'grey' as const, range: [-1, 1] as [number, number] } };
  for (const [task, labels] of [
    ['emotion', EMOTION_LABELS],
    ['gender', GENDER_LABELS],
  ] as const) {
    const m = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: labels.length });
    await saveModel(m, path.join(dir, task), { task, labels: [...labels], ...meta });
    m.dispose();
  }
  return { emotion: path.join(dir, 'emotion'), gender: path.join(dir, 'gender'), note: 'untrained mini-Xception 64x64 (no models in models/ yet)' };
}

/** A 640x480 JPEG with one UTKFace face the detector finds. */
async function singleFaceJpeg(fc: FaceClassifier): Promise<Buffer> {
  const utk = datasetPath('utkface');
  if (!fs.existsSync(utk)) throw new Error(`bench:server composes its image from UTKFace faces: not found at ${utk} (set FACECLS_DATASETS)`);
  const chips = listUtkFaces(utk);
  for (let seed = 1; seed < 50; seed++) {
    const frame = await composeFrame(chips, { faces: 1, seed, minSide: 140, maxSide: 180 });
    const jpeg = await sharp(Buffer.from(frame.image.data), { raw: { width: 640, height: 480, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    if ((await fc.classify(jpeg)).length === 1) return jpeg;
  }
  throw new Error('no composed frame with exactly one detected face');
}

async function startServer(m: { emotion: string; gender: string }, port: number): Promise<ChildProcess> {
  const args = [
    path.join(projectRoot(), 'bin', 'facecls.js'),
    'serve',
    '--port',
    String(port),
    '--log-level',
    'warn',
    '--emotion-model',
    m.emotion,
    '--gender-model',
    m.gender,
    '--max-queued',
    '256',
  ];
  if (runtime) args.push('--runtime', runtime);
  if (serverConcurrency) args.push('--concurrency', serverConcurrency);
  if (serverWorkers) args.push('--workers', serverWorkers);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('server did not start within 120 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Health {
  memory: { rss: number; heapUsed: number; tensors: number; tensorBytes: number };
  backend: string;
}

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const m = await models();
  console.log(`models: ${m.note}`);
  // Baseline: the library call in this process (decode + detect + classify), same image.
  const fc = await FaceClassifier.load({ emotionModel: m.emotion, genderModel: m.gender, runtime });
  const jpeg = await singleFaceJpeg(fc);
  const direct: number[] = [];
  for (let i = 0; i < 220; i++) {
    const t0 = performance.now();
    await fc.classify(jpeg);
    if (i >= 20) direct.push(performance.now() - t0);
  }
  await fc.dispose();
  const directMedian = median(direct);
  console.log(`image: 640x480 JPEG, ${jpeg.length} bytes, 1 face (UTKFace chip on a generated background, composed in memory)`);
  console.log(
    `baseline, FaceClassifier.classify in-process (no HTTP): median ${directMedian.toFixed(2)} ms, p99 ${percentile(direct, 99).toFixed(2)} ms = ${(1000 / directMedian).toFixed(1)} images/s\n`,
  );

  const port = await freePort();
  const child = await startServer(m, port);
  const url = `http://127.0.0.1:${port}/v1/classify`;
  const load = (o: { connections: number; duration?: number; amount?: number }) =>
    autocannon({ url, method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' }, timeout: 60, ...o });
  try {
    await load({ connections: 4, amount: 200 }); // warm-up
    console.log('connections   req/s   p50 ms   p99 ms   non-2xx  errors   req/s vs baseline');
    for (const c of levels) {
      const r = await load({ connections: c, duration });
      console.log(
        `${String(c).padStart(11)} ${r.requests.average.toFixed(1).padStart(7)} ${r.latency.p50.toFixed(1).padStart(8)} ${r.latency.p99.toFixed(1).padStart(8)} ${String(r.non2xx).padStart(9)} ${String(r.errors + r.timeouts).padStart(7)} ${(r.requests.average / (1000 / directMedian)).toFixed(2).padStart(10)}x`,
      );
    }
    const health = async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as Health;
    const before = await health();
    const t0 = Date.now();
    const r = await load({ connections: 8, amount: requests });
    const after = await health();
    console.log(
      `\n${requests} requests at 8 connections in ${((Date.now() - t0) / 1000).toFixed(1)} s (${r['2xx']} ok, ${r.non2xx} non-2xx, ${r.errors} errors); server process:`,
    );
    console.log(`  rss        ${mb(before.memory.rss)} MiB -> ${mb(after.memory.rss)} MiB`);
    console.log(`  heapUsed   ${mb(before.memory.heapUsed)} MiB -> ${mb(after.memory.heapUsed)} MiB`);
    console.log(
      `  tf.memory  ${before.memory.tensors} tensors / ${before.memory.tensorBytes} bytes -> ${after.memory.tensors} tensors / ${after.memory.tensorBytes} bytes (backend ${after.backend})`,
    );
    console.log(`\nloopback only; ${os.cpus().length} cores shared with other work: figures are noisy on a loaded machine.`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

await main();
