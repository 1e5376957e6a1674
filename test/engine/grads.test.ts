/**
 * Every gradient the engine adds or replaces on wasm, checked against stock tfjs on the cpu backend
 * (its own naive kernels and gradient configs) on random inputs, for every kernel size, stride and
 * padding the zoo uses (plus odd sizes and multipliers). Error measure: max |wasm - cpu| divided by
 * max |cpu| over the whole gradient tensor; limit 1e-4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../src/engine/backend.js';
import '../../src/engine/wasm-kernels.js';
import { buildModel } from '../../src/framework/index.js';
import * as fs from 'node:fs';
import type { WasmHeapBackend } from '../../src/engine/heap-kernels.js';
import { simdKernels } from '../../src/engine/simd/index.js';
import { assembleKernels, GENERATED_PATH, renderKernelsModule } from '../../src/engine/simd/assemble.js';
import { KERNELS_WASM_BASE64 } from '../../src/engine/simd/kernels.generated.js';

type Arr = { data: Float32Array; shape: number[] };
const TOL = 1e-4;
let worst = 0;

let seed = 12345;
function rand(shape: number[], lo = -1, hi = 1): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    data[i] = lo + ((hi - lo) * seed) / 2 ** 32;
  }
  return { data, shape };
}

/** Gradients of sum(f(inputs) * r) w.r.t. every input, on one backend. */
async function gradsOn(backend: 'cpu' | 'wasm', f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Arr[], r: (outShape: number[]) => Arr): Promise<Float32Array[]> {
  await setupBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map((a) => tf.tensor(a.data, a.shape));
    const outShape = tf.tidy(() => f(...xs).shape);
    const rr = r(outShape);
    const weights = tf.tensor(rr.data, rr.shape);
    const gs = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(...args), weights)))(xs);
    return gs.map((g) => g.dataSync().slice() as Float32Array);
  });
}

function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

async function check(name: string, f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Arr[]): Promise<void> {
  const outSeed = seed;
  const r = (shape: number[]) => {
    const saved = seed;
    seed = outSeed;
    const a = rand(shape);
    seed = saved;
    return a;
  };
  const cpu = await gradsOn('cpu', f, inputs, r);
  const wasm = await gradsOn('wasm', f, inputs, r);
  cpu.forEach((c, i) => {
    const e = relErr(wasm[i], c);
    worst = Math.max(worst, e);
    assert.ok(e <= TOL, `${name}: gradient of input ${i} differs from cpu by ${e.toExponential(2)} (> ${TOL})`);
  });
}

test('conv2d input and filter gradients match cpu for kernels 1/3/5/7, strides 1/2, same/valid', async () => {
  for (const k of [1, 3, 5, 7]) {
    for (const s of [1, 2] as const) {
      for (const pad of ['same', 'valid'] as const) {
        for (const [h, w] of [
          [12, 12],
          [11, 10],
        ]) {
          if (pad === 'valid' && (h < k || w < k)) continue;
          await check(`conv2d k${k} s${s} ${pad} ${h}x${w}`, (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad), [
            rand([2, h, w, 3]),
            rand([k, k, 3, 4]),
          ]);
        }
      }
    }
  }
});

test('fused conv2d (bias + relu, as tfjs-layers runs it) gradients match cpu', async () => {
  await check(
    'fused conv2d',
    (x, f, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, bias: b, strides: 1, pad: 'same', activation: 'relu' }),
    [rand([2, 9, 9, 2]), rand([3, 3, 2, 5]), rand([5])],
  );
});

test('depthwise and separable conv gradients match cpu for strides 1/2, same/valid, multipliers 1/2', async () => {
  for (const k of [3, 5]) {
    for (const s of [1, 2] as const) {
      for (const pad of ['same', 'valid'] as const) {
        for (const m of [1, 2]) {
          await check(`depthwise k${k} s${s} ${pad} m${m}`, (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad), [
            rand([2, 11, 12, 3]),
            rand([k, k, 3, m]),
          ]);
        }
      }
    }
  }
  await check('separableConv2d', (x, d, p) => tf.separableConv2d(x as tf.Tensor4D, d as tf.Tensor4D, p as tf.Tensor4D, 1, 'same'), [
    rand([2, 10, 10, 4]),
    rand([3, 3, 4, 1]),
    rand([1, 1, 4, 6]),
  ]);
});

test('max pool (3x3 s2 same, 2x2 s2 valid, with ties), avg pool 2x2 same and global average pooling gradients match cpu', async () => {
  await check('maxpool 3x3 s2 same', (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), [rand([2, 11, 12, 5])]);
  await check('maxpool 2x2 s2 valid', (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [rand([2, 10, 9, 3])]);
  // ReLU zeros make whole windows tie: the gradient must go to the first maximum, as on cpu.
  await check('maxpool ties', (x) => tf.maxPool(tf.relu(x) as tf.Tensor4D, 3, 2, 'same'), [rand([2, 9, 9, 4], -1, 0.3)]);
  await check('avgpool 2x2 s2 same', (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'same'), [rand([2, 11, 10, 3])]);
  await check('global average pooling', (x) => tf.mean(x, [1, 2]), [rand([3, 5, 6, 7])]);
});

test('WebAssembly SIMD kernels (channels a multiple of 4): max-pool and depthwise filter gradients match cpu, and the JavaScript loops', async () => {
  await setupBackend('wasm');
  assert.ok(simdKernels(tf.backend() as unknown as WasmHeapBackend, 4), 'the SIMD kernels should load on the wasm backend here');
  const cases: Array<[string, (...xs: tf.Tensor[]) => tf.Tensor, Arr[]]> = [
    ['simd maxpool 3x3 s2 same c8', (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), [rand([2, 11, 12, 8])]],
    ['simd maxpool 3x3 s2 same c16 even', (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), [rand([3, 12, 12, 16])]],
    ['simd maxpool 2x2 s2 valid c4', (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [rand([2, 10, 9, 4])]],
    ['simd maxpool ties c12', (x) => tf.maxPool(tf.relu(x) as tf.Tensor4D, 3, 2, 'same'), [rand([2, 9, 9, 12], -1, 0.3)]],
  ];
  for (const k of [3, 5]) {
    for (const s of [1, 2] as const) {
      for (const pad of ['same', 'valid'] as const) {
        cases.push([
          `simd depthwise k${k} s${s} ${pad} c8`,
          (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad),
          [rand([2, 11, 12, 8]), rand([k, k, 8, 1])],
        ]);
      }
    }
  }
  // A long row (odd and even widths) and many batch rows: float64 totals keep the sum accurate.
  cases.push([
    'simd depthwise k3 s1 same 47x48 c16',
    (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'),
    [rand([8, 47, 48, 16]), rand([3, 3, 16, 1])],
  ]);
  for (const [name, f, inputs] of cases) {
    await check(name, f, inputs);
    // and bit-for-bit comparable with the scalar loops (same sums, different rounding order)
    const rSeed = seed;
    const r = (shape: number[]) => {
      seed = rSeed;
      return rand(shape);
    };
    const simd = await gradsOn('wasm', f, inputs, r);
    process.env.FACECLS_SIMD_KERNELS = '0';
    try {
      const loops = await gradsOn('wasm', f, inputs, r);
      simd.forEach((g, i) =>
        assert.ok(relErr(g, loops[i]) <= 1e-5, `${name}: SIMD and JavaScript loop gradients differ by ${relErr(g, loops[i]).toExponential(2)}`),
      );
    } finally {
      delete process.env.FACECLS_SIMD_KERNELS;
    }
  }
  // no scratch tensors left behind
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.maxPool(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), 3, 2, 'same')))([
      tf.ones([1, 8, 8, 4]),
      tf.ones([3, 3, 4, 1]),
    ]);
  });
  assert.equal(tf.memory().numTensors, before);
});

test('the embedded SIMD module matches kernels.wat (regenerate: node dist/src/engine/simd/assemble.js)', async () => {
  const bytes = await assembleKernels();
  assert.equal(Buffer.from(KERNELS_WASM_BASE64, 'base64').toString('base64'), Buffer.from(bytes).toString('base64'));
  assert.equal(renderKernelsModule(bytes), fs.readFileSync(GENERATED_PATH, 'utf8'));
});

test('batch-norm gradient (training mode: batch moments) matches cpu for x, gamma and beta', async () => {
  await check(
    'batch norm',
    (x, gamma, beta) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
    },
    [rand([4, 6, 5, 8], -2, 3), rand([8], 0.5, 1.5), rand([8])],
  );
});

async function checkBatchNormLayer(shape: [number, number, number, number]): Promise<void> {
  const [, h, w, ch] = shape;
  const x = rand(shape, -2, 3);
  const gamma = rand([ch], 0.5, 1.5);
  const beta = rand([ch]);
  const r = rand(shape);
  const run = async (backend: 'cpu' | 'wasm') => {
    await setupBackend(backend);
    const layer = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-3 });
    layer.build([null, h, w, ch]);
    layer.setWeights([tf.tensor(gamma.data), tf.tensor(beta.data), tf.zeros([ch]), tf.ones([ch])]);
    const out = tf.tidy(() => {
      const xt = tf.tensor4d(x.data, x.shape as [number, number, number, number]);
      const rt = tf.tensor(r.data, r.shape);
      const vars = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xt, { training: true }) as tf.Tensor, rt)) as tf.Scalar, vars);
      const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, rt)))(xt);
      return [value, ...vars.map((v) => grads[v.name]), dx].map((t) => t.dataSync().slice() as Float32Array);
    });
    const moving = layer
      .getWeights()
      .slice(2)
      .map((t) => t.dataSync().slice() as Float32Array);
    layer.weights.forEach((w) => w.dispose());
    return [...out, ...moving];
  };
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  cpu.forEach((c, i) => {
    const e = relErr(wasm[i], c);
    worst = Math.max(worst, e);
    assert.ok(e <= TOL, `batch-norm layer ${shape.join('x')}: output ${i} differs from cpu by ${e.toExponential(2)}`);
  });
}

test('BatchNormalization layer in training mode (fused on wasm) matches the stock layer on cpu: output, gradients, moving statistics', async () => {
  await checkBatchNormLayer([4, 7, 6, 5]);
  // channels a multiple of 4: the WebAssembly SIMD path (and a large one: float64 block sums)
  await checkBatchNormLayer([4, 7, 6, 8]);
  await checkBatchNormLayer([16, 44, 44, 16]);
});

test('softmax + cross-entropy, relu, add, dropout-free zoo models: whole-model gradients match cpu', async () => {
  for (const [arch, size] of [
    ['mini-xception', 16],
    ['simpler-cnn', 16],
  ] as const) {
    await setupBackend('cpu');
    const model = buildModel(arch, { inputSize: size, numClasses: 3, dropout: 0 });
    // Seeded weights (gamma near 1) so the check is deterministic; 4 samples so the last layers'
    // batch norm (1x1 maps in simpler-cnn) has more than two values per channel.
    const weights = model.weights.map((w) => (/gamma/.test(w.name) ? rand(w.shape as number[], 0.8, 1.2) : rand(w.shape as number[], -0.3, 0.3)));
    const x = rand([4, size, size, 1]);
    const y = tf.tidy(
      () =>
        tf
          .oneHot(tf.tensor1d([0, 2, 1, 0], 'int32'), 3)
          .dataSync()
          .slice() as Float32Array,
    );
    const run = async (backend: 'cpu' | 'wasm') => {
      await setupBackend(backend);
      model.setWeights(weights.map((w) => tf.tensor(w.data, w.shape)));
      return tf.tidy(() => {
        const xt = tf.tensor4d(x.data, x.shape as [number, number, number, number]);
        const yt = tf.tensor2d(y, [4, 3]);
        const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
        const { grads } = tf.variableGrads(() => {
          const p = model.apply(xt, { training: true }) as tf.Tensor;
          return tf.addN([tf.mean(tf.metrics.categoricalCrossentropy(yt, p)), ...model.calculateLosses()]) as tf.Scalar;
        }, vars);
        return vars.map((v) => grads[v.name].dataSync().slice() as Float32Array);
      });
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    const all = (gs: Float32Array[]) => Float32Array.from(gs.flatMap((g) => Array.from(g)));
    const e = relErr(all(wasm), all(cpu));
    assert.ok(e <= TOL, `${arch}: whole-model gradient differs from cpu by ${e.toExponential(2)}`);
    console.log(`# ${arch} ${size}x${size}: whole-model gradient relative error ${e.toExponential(2)}`);
    model.dispose();
  }
});

test('report the largest per-op relative error', () => {
  console.log(`# largest per-op gradient relative error vs cpu: ${worst.toExponential(2)} (limit ${TOL})`);
  assert.ok(worst > 0 && worst <= TOL);
});

test('gradient kernels do not leak tensors', async () => {
  await setupBackend('wasm');
  const x = tf.randomNormal([2, 9, 9, 4]);
  const f = tf.randomNormal([3, 3, 4, 1]);
  const g = () =>
    tf.tidy(() => {
      const [a, b] = tf.grads((xx: tf.Tensor, ff: tf.Tensor) =>
        tf.sum(tf.maxPool(tf.depthwiseConv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same'), 3, 2, 'same')),
      )([x, f]);
      return tf.add(tf.sum(a), tf.sum(b));
    });
  g().dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) g().dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, f]);
});
