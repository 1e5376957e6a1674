import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { tmpDir } from '../../helpers/tmp.js';

/** Give every BatchNormalization layer random, non-trivial statistics (as after training). */
export function randomiseBatchNorm(model: tf.LayersModel, seed = 1): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const cfg = layer.getConfig();
    const names = [...(cfg.scale !== false ? ['gamma'] : []), ...(cfg.center !== false ? ['beta'] : []), 'mean', 'variance'];
    const ws = layer.getWeights();
    const fresh = ws.map((w, i) => {
      const kind = names[i];
      const opts = { seed: s++ };
      if (kind === 'gamma') return tf.randomUniform(w.shape, 0.5, 1.5, 'float32', opts.seed);
      if (kind === 'beta') return tf.randomUniform(w.shape, -0.5, 0.5, 'float32', opts.seed);
      if (kind === 'mean') return tf.randomUniform(w.shape, -0.5, 0.5, 'float32', opts.seed);
      return tf.randomUniform(w.shape, 0.3, 2, 'float32', opts.seed);
    });
    layer.setWeights(fresh);
    fresh.forEach((t) => t.dispose());
  }
}

export { randomInputs } from '../../../src/data/rng.js';

export async function tfjsPredict(model: tf.LayersModel, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const y = tf.tidy(() => model.predict(tf.tensor(data, shape)) as tf.Tensor);
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}

export async function ortPredict(bytes: Uint8Array, data: Float32Array, shape: number[]): Promise<{ out: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const r = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, shape) });
    const y = r[session.outputNames[0]];
    return { out: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

const PY = '/usr/bin/python3';
let checkerAvailable: string | true | undefined;

/** true, or the reason onnx.checker cannot run here (Debian python3-onnx missing). */
export function onnxCheckerAvailable(): string | true {
  if (checkerAvailable !== undefined) return checkerAvailable;
  if (!fs.existsSync(PY)) return (checkerAvailable = `${PY} not found (install Debian python3-onnx to run onnx.checker)`);
  const r = spawnSync(PY, ['-c', 'import onnx'], { encoding: 'utf8' });
  checkerAvailable = r.status === 0 ? true : `python3-onnx not installed for ${PY} (apt-get install python3-onnx): ${r.stderr.trim().split('\n').pop()}`;
  return checkerAvailable;
}

/** Run onnx.checker.check_model (full check, with shape inference) on each file; returns stderr on failure. */
export function onnxCheck(models: Record<string, Uint8Array>): { ok: boolean; output: string } {
  const dir = tmpDir('facecls-onnx-check-');
  const files = Object.entries(models).map(([name, bytes]) => {
    const f = path.join(dir, `${name}.onnx`);
    fs.writeFileSync(f, bytes);
    return f;
  });
  const script = [
    'import sys, onnx',
    'for f in sys.argv[1:]:',
    '    m = onnx.load(f)',
    '    onnx.checker.check_model(m, full_check=True)',
    '    print("ok", f)',
  ].join('\n');
  const r = spawnSync(PY, ['-c', script, ...files], { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}
