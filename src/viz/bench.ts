/**
 * Saliency speed: milliseconds per face for each method, against a plain forward pass of the same
 * model in the same process. Used by `facecls bench saliency` and bench/saliency.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../engine/backend.js';
import { median, percentile } from '../framework/model-bench.js';
import { buildModel } from '../framework/zoo.js';
import { depthwiseGradPolicy } from './graph.js';
import { SALIENCY_METHODS, saliencyMaps, type SaliencyMethod } from './saliency.js';

export interface SaliencyBenchRow {
  arch: string;
  inputSize: number;
  /** 'forward' is the baseline: model.predict on the same batch. */
  method: SaliencyMethod | 'forward';
  batch: number;
  backend: string;
  /** Median ms per face (median call time / batch), maps downloaded to JS arrays included. */
  msPerFace: number;
  /**
   * Median CPU time of this process per face (process.cpuUsage: user + system). The backends run
   * on one thread, so on a machine shared with other work this estimates the uncontended cost.
   */
  cpuMsPerFace: number;
  /** 90th percentile ms per call. */
  p90MsPerCall: number;
  runs: number;
  /** msPerFace / forward msPerFace at the same batch. */
  vsForward?: number;
}

export interface SaliencyBenchOptions {
  backend?: string;
  archs?: Array<{ arch: string; inputSize: number }>;
  batches?: number[];
  methods?: SaliencyMethod[];
  /** Minimum measuring time per row (ms). */
  minMs?: number;
  onRow?: (row: SaliencyBenchRow) => void;
}

export const DEFAULT_BENCH_ARCHS = [
  { arch: 'mini-xception', inputSize: 48 },
  { arch: 'mini-xception', inputSize: 64 },
];

/** Median wall and CPU time per call (ms), the 90th percentile and the number of timed calls. */
interface Timed {
  median: number;
  cpu: number;
  p90: number;
  runs: number;
}

async function timeIt(fn: () => void | Promise<void>, minMs: number): Promise<Timed> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  const cpu: number[] = [];
  const start = performance.now();
  while (times.length < 10 || (performance.now() - start < minMs && times.length < 500)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { median: median(times), cpu: median(cpu), p90: percentile(times, 90), runs: times.length };
}

export async function benchSaliency(opts: SaliencyBenchOptions = {}): Promise<SaliencyBenchRow[]> {
  const backend = await setupBackend(opts.backend);
  const rows: SaliencyBenchRow[] = [];
  const minMs = opts.minMs ?? 1500;
  for (const { arch, inputSize } of opts.archs ?? DEFAULT_BENCH_ARCHS) {
    const model = buildModel(arch, { inputSize, numClasses: 7 });
    try {
      for (const batch of opts.batches ?? [1, 4]) {
        const x = tf.randomUniform([batch, inputSize, inputSize, 1], -1, 1, 'float32', 42);
        const data = x.dataSync() as Float32Array;
        try {
          const fwd = await timeIt(async () => {
            const y = model.predict(x) as tf.Tensor;
            await y.data();
            y.dispose();
          }, minMs);
          const row = (method: SaliencyBenchRow['method'], t: Timed): SaliencyBenchRow => ({
            arch,
            inputSize,
            method,
            batch,
            backend,
            msPerFace: t.median / batch,
            cpuMsPerFace: t.cpu / batch,
            p90MsPerCall: t.p90,
            runs: t.runs,
          });
          const base = row('forward', fwd);
          rows.push(base);
          opts.onRow?.(base);
          for (const method of opts.methods ?? SALIENCY_METHODS) {
            const t = await timeIt(() => void saliencyMaps(model, data, { method }), minMs);
            const r: SaliencyBenchRow = { ...row(method, t), vsForward: t.median / batch / base.msPerFace };
            rows.push(r);
            opts.onRow?.(r);
          }
        } finally {
          x.dispose();
        }
      }
    } finally {
      model.dispose();
    }
  }
  return rows;
}

/** How the depthwise input gradient is computed on the active backend (for reports). */
export function depthwiseGradientSource(): string {
  if (depthwiseGradPolicy.mode !== 'auto') return depthwiseGradPolicy.mode;
  return tf.getKernel('DepthwiseConv2dNativeBackpropInput', tf.getBackend()) ? 'native kernel' : 'custom gradient (flipped-kernel depthwise conv)';
}
