/**
 * Where a training step's time goes: one mini-Xception forward + backward on the calling thread
 * (wasm backend with the engine's kernels), wall ms per step, then tf.profile's per-kernel time
 * (kernels that run other kernels, e.g. the engine's gradient kernels, include them).
 * Compare the SIMD kernels with the JavaScript loops: FACECLS_SIMD_KERNELS=0 node dist/bench/train-kernels.js
 *
 *   node dist/bench/train-kernels.js [--batch 16] [--input 48] [--steps 10] [--top 20] [--json]
 */
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../src/engine/backend.js';
import '../src/engine/wasm-kernels.js';
import { buildModel } from '../src/framework/index.js';

const args = process.argv.slice(2);
const num = (name: string, def: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name} must be a positive integer`);
  return v;
};
const batch = num('--batch', 16);
const input = num('--input', 48);
const steps = num('--steps', 10);
const top = num('--top', 20);

await setupBackend('wasm');
const model = buildModel('mini-xception', { inputSize: input, channels: 1, numClasses: 7 });
const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
const x = tf.randomUniform([batch, input, input, 1], -1, 1, 'float32', 1);
const y = tf
  .oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 7),
      'int32',
    ),
    7,
  )
  .toFloat();

function step(): void {
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(x, { training: true }) as tf.Tensor;
      return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar;
    }, vars);
    tf.concat(Object.values(grads).map((g) => tf.reshape(g, [-1]))).dataSync();
    value.dispose();
  });
}

for (let i = 0; i < 3; i++) step();
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const msPerStep = (performance.now() - t0) / steps;
const prof = await tf.profile(() => {
  for (let i = 0; i < steps; i++) step();
});
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of prof.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0) / steps;
  e.calls += 1 / steps;
  byKernel.set(k.name, e);
}
const rows = [...byKernel].map(([kernel, e]) => ({ kernel, msPerStep: e.ms, callsPerStep: Math.round(e.calls) })).sort((a, b) => b.msPerStep - a.msPerStep);
const simd = process.env.FACECLS_SIMD_KERNELS === '0' ? 'off' : 'on';
if (args.includes('--json')) {
  console.log(JSON.stringify({ arch: 'mini-xception', input, batch, simd, msPerStep, kernels: rows }));
} else {
  console.log(
    `mini-xception ${input}x${input}x1, batch ${batch}, forward + backward on one thread, SIMD kernels ${simd}: ${msPerStep.toFixed(1)} ms/step (mean of ${steps})`,
  );
  console.log(`${'kernel'.padEnd(40)} ${'ms/step'.padStart(8)} ${'calls'.padStart(6)}`);
  for (const r of rows.slice(0, top)) console.log(`${r.kernel.padEnd(40)} ${r.msPerStep.toFixed(2).padStart(8)} ${String(r.callsPerStep).padStart(6)}`);
  console.log('per-kernel times from tf.profile (nested kernels counted in their callers too); wall ms/step measured without profiling');
}
model.dispose();
