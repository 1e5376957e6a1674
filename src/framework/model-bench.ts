/** Measured inference time of a model on the active backend. */
import * as tf from '@tensorflow/tfjs';

export interface InferenceTiming {
  batch: number;
  /** Median milliseconds per image. */
  msPerImage: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

/** Median over `runs` timed forward passes after `warmup` untimed ones. */
export async function timeInference(
  model: tf.LayersModel,
  batch: number,
  opts: { runs?: number; warmup?: number; minMs?: number } = {},
): Promise<InferenceTiming> {
  const shape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomUniform([batch, ...shape], -1, 1);
  try {
    const once = async () => {
      const y = model.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
    };
    for (let i = 0; i < (opts.warmup ?? 2); i++) await once();
    const times: number[] = [];
    const minRuns = opts.runs ?? 5;
    const start = performance.now();
    while (times.length < minRuns || (performance.now() - start < (opts.minMs ?? 0) && times.length < 200)) {
      const t0 = performance.now();
      await once();
      times.push(performance.now() - t0);
    }
    return { batch, msPerImage: median(times) / batch };
  } finally {
    x.dispose();
  }
}
