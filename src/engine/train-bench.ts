/**
 * Training-speed benchmark: ms per optimizer step and images/s for a zoo model, for
 * - stock TensorFlow.js on the cpu backend (tf.train.adam().minimize, what model.fit runs), and
 * - this engine (wasm + facecls gradient kernels) with 0 (calling thread), 1 and N worker threads.
 * Every configuration trains on the same random batch from the same initial weights.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from './backend.js';
import { createTrainer, defaultWorkers, trainerConfigFromModel } from './trainer.js';
import { buildModel } from '../framework/index.js';

export interface TrainBenchOptions {
  arch: string;
  inputs: number[];
  batches: number[];
  /** Worker counts for the engine rows; 0 = calling thread. */
  workers: number[];
  /** Timed steps per engine configuration (after warm-up). */
  steps: number;
  warmup: number;
  /** Timed steps for the stock cpu rows (a mini-Xception step takes tens of seconds); 0 = skip. */
  cpuSteps: number;
  numClasses: number;
  onRow?: (row: TrainBenchRow) => void;
}

export interface TrainBenchRow {
  arch: string;
  input: number;
  batch: number;
  engine: 'tfjs-cpu' | 'wasm+facecls';
  workers: number;
  msPerStep: number;
  imagesPerSec: number;
  steps: number;
  /** This row's throughput / the stock cpu row's (same input and batch). */
  vsCpu?: number;
  /** This row's throughput / the 1-worker engine row's (same input and batch). */
  vs1Worker?: number;
  /**
   * CPU time per step summed over all threads of the process (main + workers). Unlike wall time it
   * barely depends on other load on the machine; divided by the worker count it estimates the wall
   * time per step on an otherwise idle machine with one core per worker.
   */
  cpuMsPerStep?: number;
  /** Engine rows: change in live tensors (summed over workers) across the timed steps; 0 = no leak. */
  tensorGrowth?: number;
}

export const QUICK: Pick<TrainBenchOptions, 'inputs' | 'batches' | 'steps' | 'warmup' | 'cpuSteps'> = {
  inputs: [48],
  batches: [32],
  steps: 5,
  warmup: 2,
  cpuSteps: 1,
};

export function defaultTrainBenchOptions(): TrainBenchOptions {
  const n = defaultWorkers();
  return {
    arch: 'mini-xception',
    inputs: [48, 64],
    batches: [32, 64],
    workers: n > 1 ? [1, n] : [1],
    steps: 30,
    warmup: 3,
    cpuSteps: 1,
    numClasses: 7,
  };
}

function randomBatch(n: number, size: number, classes: number, seed: number): { x: Float32Array; y: Float32Array } {
  let s = seed >>> 0;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const x = new Float32Array(n * size * size).map(() => rand() * 2 - 1);
  const y = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) y[i * classes + (i % classes)] = 1;
  return { x, y };
}

async function timeStockCpu(
  model: tf.LayersModel,
  x: Float32Array,
  y: Float32Array,
  n: number,
  size: number,
  classes: number,
  steps: number,
): Promise<{ ms: number; cpuMs: number }> {
  await setupBackend('cpu');
  const m = await tf.models.modelFromJSON({ modelTopology: JSON.parse(JSON.stringify(model.toJSON(null, false))) } as never);
  m.setWeights(model.getWeights().map((w) => tf.tensor(w.dataSync(), w.shape)));
  const opt = tf.train.adam(1e-3);
  const xt = tf.tensor4d(x, [n, size, size, 1]);
  const yt = tf.tensor2d(y, [n, classes]);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const loss = opt.minimize(() => {
        const p = m.apply(xt, { training: true }) as tf.Tensor;
        const ce = tf.mean(tf.metrics.categoricalCrossentropy(yt, p));
        return tf.addN([ce, ...m.calculateLosses()]) as tf.Scalar;
      }, true);
      loss?.dataSync();
      loss?.dispose();
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuTimes.push((c.user + c.system) / 1000);
    }
  } finally {
    tf.dispose([xt, yt]);
    opt.dispose();
    m.dispose();
  }
  return { ms: median(times), cpuMs: median(cpuTimes) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function timeEngine(
  model: tf.LayersModel,
  workers: number,
  x: Float32Array,
  y: Float32Array,
  n: number,
  o: TrainBenchOptions,
): Promise<{ ms: number; growth: number; cpuMs: number }> {
  const trainer = await createTrainer(trainerConfigFromModel(model, { name: 'adam', learningRate: 1e-3 }, { workers, backend: 'wasm' }));
  try {
    for (let i = 0; i < o.warmup; i++) await trainer.trainStep(x, y, n);
    const before = await trainer.memory!();
    // Wall time over all timed steps: includes sharding, message passing and gradient averaging.
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < o.steps; i++) await trainer.trainStep(x, y, n);
    const ms = (performance.now() - t0) / o.steps;
    const cpu = process.cpuUsage(c0);
    const after = await trainer.memory!();
    const growth = after.reduce((a, m, i) => a + m.numTensors - before[i].numTensors, 0);
    return { ms, growth, cpuMs: (cpu.user + cpu.system) / 1000 / o.steps };
  } finally {
    await trainer.dispose();
  }
}

export async function benchTrain(o: TrainBenchOptions): Promise<TrainBenchRow[]> {
  const rows: TrainBenchRow[] = [];
  const emit = (r: TrainBenchRow) => {
    rows.push(r);
    o.onRow?.(r);
  };
  for (const input of o.inputs) {
    await setupBackend('wasm');
    const model = buildModel(o.arch, { inputSize: input, numClasses: o.numClasses });
    try {
      for (const batch of o.batches) {
        const { x, y } = randomBatch(batch, input, o.numClasses, input * 1000 + batch);
        const group: TrainBenchRow[] = [];
        const row = (engine: TrainBenchRow['engine'], workers: number, ms: number, steps: number): TrainBenchRow => ({
          arch: o.arch,
          input,
          batch,
          engine,
          workers,
          msPerStep: ms,
          imagesPerSec: (batch * 1000) / ms,
          steps,
        });
        if (o.cpuSteps > 0) {
          const t = await timeStockCpu(model, x, y, batch, input, o.numClasses, o.cpuSteps);
          group.push({ ...row('tfjs-cpu', 0, t.ms, o.cpuSteps), cpuMsPerStep: t.cpuMs });
        }
        await setupBackend('wasm');
        for (const w of o.workers) {
          const t = await timeEngine(model, w, x, y, batch, o);
          group.push({ ...row('wasm+facecls', w, t.ms, o.steps), cpuMsPerStep: t.cpuMs, tensorGrowth: t.growth });
        }
        const cpu = group.find((r) => r.engine === 'tfjs-cpu');
        const one = group.find((r) => r.engine === 'wasm+facecls' && r.workers === 1);
        for (const r of group) {
          if (cpu && r !== cpu) r.vsCpu = r.imagesPerSec / cpu.imagesPerSec;
          if (one && r.engine === 'wasm+facecls') r.vs1Worker = r.imagesPerSec / one.imagesPerSec;
          emit(r);
        }
      }
    } finally {
      model.dispose();
    }
  }
  return rows;
}

export function machineNote(): string {
  const load = os.loadavg()[0];
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), load average ${load.toFixed(2)} at the end of the run`;
}
