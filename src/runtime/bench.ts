/**
 * Classifier speed per runtime: ms per face at batch 1 and 32 and faces/s, for the emotion and gender
 * models alone and together (one face = one emotion + one gender forward pass), tfjs vs onnxruntime.
 * Used by `facecls bench classify` and bench/classify.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { projectRoot } from '../data/paths.js';
import { randomInputs } from '../data/rng.js';
import { setupBackend } from '../engine/backend.js';
import { buildModel } from '../framework/zoo.js';
import { median, percentile } from '../framework/model-bench.js';
import { MODEL_JSON } from '../io/fs-handler.js';
import { EMOTION_LABELS, GENDER_LABELS, type ModelMeta, type Task } from '../io/model-store.js';
import { createRuntime, createRuntimeFromModel } from './factory.js';
import { createRuntimeGroup } from './group.js';
import type { Tta } from './tta.js';
import type { InferenceRuntime, RuntimeName } from './types.js';

export interface ClassifyBenchOptions {
  /** Model directories; default models/<task> when shipped, else a random-weight zoo mini-Xception. */
  emotion?: string;
  gender?: string;
  batch?: number;
  /** Minimum timed milliseconds per measurement (default 1500). */
  minMs?: number;
  backend?: string;
  /** onnxruntime intra-op threads (default: the runtime's default). */
  threads?: number;
  /** onnxruntime worker-thread sessions per model, for the single-model rows (default: the runtime's default). */
  workers?: number;
  /** Worker threads of the emotion+gender step (default: src/runtime/group.ts defaultGroupWorkers). */
  groupWorkers?: number;
  runtimes?: RuntimeName[];
  seed?: number;
  /** Test-time augmentation of the runtimes: default each model's own (flip doubles the passes per face). */
  tta?: Tta;
}

export interface Timing {
  /** Median and 90th-percentile ms per face over the timed runs. */
  msPerFace: number;
  p90MsPerFace: number;
  facesPerSecond: number;
  /**
   * Process CPU time (user + system, all threads) per face over the timed runs. On a machine shared
   * with other processes this is what a face costs, while wall time also counts waiting for a core.
   */
  cpuMsPerFace: number;
  runs: number;
}

export interface BenchRow {
  runtime: string;
  model: 'emotion' | 'gender' | 'emotion+gender';
  batch1: Timing;
  batchN: Timing;
}

export interface ModelSource {
  task: Task;
  source: string;
  arch?: string;
  input: string;
  /** Test-time augmentation measured (flip: two forward passes per face). */
  tta: Tta;
}

export interface ClassifyBenchResult {
  batch: number;
  backend: string;
  onnxThreads: number | null;
  onnxWorkers: number | null;
  onnxMaxChunk: number | null;
  /** Worker threads that shared the onnxruntime emotion+gender step with the calling thread. */
  groupWorkers: number | null;
  models: ModelSource[];
  rows: BenchRow[];
  /** tfjs time / onnx time per model and batch (how many times faster onnxruntime is). */
  ratios: Array<{ model: BenchRow['model']; batch1: number; batchN: number }>;
  targets?: {
    emotionGenderMsAtBatch1: { target: number; measured: number; met: boolean };
    facesPerSecondBatched: { target: number; measured: number; met: boolean };
  };
  machine: { cpus: number; cpuModel: string; loadAverage: number[]; node: string };
  note: string;
}

const TARGET_MS_B1 = 0.6;
const TARGET_FACES_PER_S = 5000;

async function timeFaces(fn: () => Promise<unknown>, faces: number, minMs: number): Promise<Timing> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  while (times.length < 10 || (performance.now() - start < minMs && times.length < 20000)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const ms = median(times) / faces;
  return {
    msPerFace: ms,
    p90MsPerFace: percentile(times, 90) / faces,
    facesPerSecond: 1000 / ms,
    cpuMsPerFace: (cpu.user + cpu.system) / 1000 / (times.length * faces),
    runs: times.length,
  };
}

function shippedDir(task: 'emotion' | 'gender'): string | undefined {
  const dir = path.join(projectRoot(), 'models', task);
  return fs.existsSync(path.join(dir, MODEL_JSON)) ? dir : undefined;
}

interface Pair {
  source: ModelSource;
  runtimes: Map<RuntimeName, InferenceRuntime>;
}

async function openModel(task: 'emotion' | 'gender', dir: string | undefined, o: ClassifyBenchOptions, runtimes: RuntimeName[]): Promise<Pair> {
  const map = new Map<RuntimeName, InferenceRuntime>();
  try {
    if (dir) {
      for (const r of runtimes)
        map.set(r, await createRuntime(dir, { runtime: r, backend: o.backend, intraOpThreads: o.threads, workers: o.workers, tta: o.tta }));
      const first = [...map.values()][0];
      const meta = first.meta;
      return { source: { task, source: dir, arch: meta.arch, input: `${meta.inputSize}x${meta.inputSize}x${meta.channels}`, tta: first.tta }, runtimes: map };
    }
    const inputSize = 48;
    const labels = task === 'emotion' ? [...EMOTION_LABELS] : [...GENDER_LABELS];
    const meta: ModelMeta = { task, labels, arch: 'mini-xception', inputSize, channels: 1, preprocessing: { colorSpace: 'grey', range: [-1, 1] } };
    const model = buildModel('mini-xception', { inputSize, channels: 1, numClasses: labels.length });
    let owned = false;
    try {
      // onnx first: it copies the weights; the tfjs runtime then takes ownership of the model.
      for (const r of [...runtimes.filter((x) => x === 'onnx'), ...runtimes.filter((x) => x !== 'onnx')]) {
        map.set(r, await createRuntimeFromModel(model, meta, { runtime: r, intraOpThreads: o.threads, workers: o.workers, tta: o.tta }));
        if (r === 'tfjs') owned = true;
      }
    } finally {
      if (!owned) model.dispose();
    }
    const tta = [...map.values()][0].tta;
    return {
      source: { task, source: 'zoo mini-xception, random weights (no shipped model yet)', arch: 'mini-xception', input: `${inputSize}x${inputSize}x1`, tta },
      runtimes: map,
    };
  } catch (err) {
    for (const r of map.values()) await r.dispose();
    throw err;
  }
}

/** tfjs ms per face over onnxruntime's, per model, when both runtimes were measured. */
function runtimeRatios(rows: BenchRow[], runtimes: readonly string[]): ClassifyBenchResult['ratios'] {
  const ratios: ClassifyBenchResult['ratios'] = [];
  if (runtimes.includes('tfjs') && runtimes.includes('onnx')) {
    for (const model of ['emotion', 'gender', 'emotion+gender'] as const) {
      const a = rows.find((x) => x.model === model && x.runtime.startsWith('tfjs'))!;
      const b = rows.find((x) => x.model === model && x.runtime === 'onnxruntime')!;
      ratios.push({ model, batch1: a.batch1.msPerFace / b.batch1.msPerFace, batchN: a.batchN.msPerFace / b.batchN.msPerFace });
    }
  }
  return ratios;
}

type BenchInputs = Array<{ one: Float32Array; many: Float32Array }>;

/** Random preprocessed inputs per model: one face, and a batch. */
function benchInputs(pairs: Pair[], batch: number, seed: number): BenchInputs {
  return pairs.map((p, i) => {
    const m = [...p.runtimes.values()][0].meta;
    const per = m.inputSize * m.inputSize * m.channels;
    return { one: randomInputs(per, seed + i), many: randomInputs(per * batch, seed + 10 + i) };
  });
}

/** One runtime's rows: each model alone, then both on the same faces in one step, as the pipeline runs them (src/runtime/group.ts). */
async function benchRuntime(
  r: RuntimeName,
  label: string,
  pairs: Pair[],
  inputs: BenchInputs,
  o: { batch: number; minMs: number; groupWorkers?: number },
): Promise<{ rows: BenchRow[]; groupWorkers: number }> {
  const rts = pairs.map((p) => p.runtimes.get(r)!);
  const rows: BenchRow[] = [];
  for (const [i, rt] of rts.entries()) {
    rows.push({
      runtime: label,
      model: pairs[i].source.task as 'emotion' | 'gender',
      batch1: await timeFaces(() => rt.run(inputs[i].one, 1), 1, o.minMs),
      batchN: await timeFaces(() => rt.run(inputs[i].many, o.batch), o.batch, o.minMs),
    });
  }
  const group = createRuntimeGroup(rts, r === 'onnx' ? { workers: o.groupWorkers } : { workers: 0 });
  try {
    const both = (n: number) => group.run(n === 1 ? [inputs[0].one, inputs[1].one] : [inputs[0].many, inputs[1].many], n);
    rows.push({
      runtime: label,
      model: 'emotion+gender',
      batch1: await timeFaces(() => both(1), 1, o.minMs),
      batchN: await timeFaces(() => both(o.batch), o.batch, o.minMs),
    });
    return { rows, groupWorkers: group.workers };
  } finally {
    await group.dispose();
  }
}

/** The onnx runtime's intra-op threads, workers and largest chunk (null without an onnx runtime). */
function onnxSettings(pairs: Pair[]): Pick<ClassifyBenchResult, 'onnxThreads' | 'onnxWorkers' | 'onnxMaxChunk'> {
  const t = pairs.map((p) => p.runtimes.get('onnx')).find((x) => x !== undefined && 'threads' in x) as
    { threads?: number; workers?: number; maxChunk?: number } | undefined;
  return t?.threads !== undefined
    ? { onnxThreads: t.threads, onnxWorkers: t.workers ?? 0, onnxMaxChunk: t.maxChunk ?? null }
    : { onnxThreads: null, onnxWorkers: null, onnxMaxChunk: null };
}

/** The pipeline's speed targets against the onnxruntime emotion+gender row. */
function classifyTargets(rows: BenchRow[]): ClassifyBenchResult['targets'] {
  const onnxBoth = rows.find((x) => x.model === 'emotion+gender' && x.runtime === 'onnxruntime');
  return (
    onnxBoth && {
      emotionGenderMsAtBatch1: { target: TARGET_MS_B1, measured: onnxBoth.batch1.msPerFace, met: onnxBoth.batch1.msPerFace <= TARGET_MS_B1 },
      facesPerSecondBatched: {
        target: TARGET_FACES_PER_S,
        measured: onnxBoth.batchN.facesPerSecond,
        met: onnxBoth.batchN.facesPerSecond >= TARGET_FACES_PER_S,
      },
    }
  );
}

function machineInfo(): ClassifyBenchResult['machine'] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
  };
}

export async function benchClassify(o: ClassifyBenchOptions = {}): Promise<ClassifyBenchResult> {
  const batch = o.batch ?? 32;
  const minMs = o.minMs ?? 1500;
  const runtimes = o.runtimes ?? ['tfjs', 'onnx'];
  const backend = await setupBackend(o.backend ?? 'wasm');
  const pairs: Pair[] = [];
  try {
    pairs.push(await openModel('emotion', o.emotion ?? shippedDir('emotion'), o, runtimes));
    pairs.push(await openModel('gender', o.gender ?? shippedDir('gender'), o, runtimes));
    const inputs = benchInputs(pairs, batch, o.seed ?? 7);
    const rows: BenchRow[] = [];
    let groupWorkers: number | null = null;
    for (const r of runtimes) {
      const measured = await benchRuntime(r, r === 'tfjs' ? `tfjs-${backend}` : 'onnxruntime', pairs, inputs, { batch, minMs, groupWorkers: o.groupWorkers });
      rows.push(...measured.rows);
      if (r === 'onnx') groupWorkers = measured.groupWorkers;
    }
    return {
      batch,
      backend: tf.getBackend(),
      ...onnxSettings(pairs),
      groupWorkers,
      models: pairs.map((p) => p.source),
      rows,
      ratios: runtimeRatios(rows, runtimes),
      targets: classifyTargets(rows),
      machine: machineInfo(),
      note:
        'ms/face: median wall time per call after 3 warm-up calls; cpu ms/face: process CPU time per face; inputs already preprocessed ' +
        '(random values in [-1, 1]). On a machine shared with other processes wall times vary with its load, long (batched) calls ' +
        'absorb more waiting for a core than short ones, and CPU time is the steadier measure of cost.',
    };
  } finally {
    for (const p of pairs) for (const r of p.runtimes.values()) await r.dispose();
  }
}
