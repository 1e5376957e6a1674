/**
 * Training-mode batch normalisation on the SIMD kernels: the same closed-form forward and backward
 * as fused-batchnorm.ts (which calls this when it applies), computed in 4 + 2 passes over the
 * activation by channelSums / channelAffine directly on the wasm heap instead of ~20 broadcasting
 * tfjs kernels. Per-channel arithmetic (C values) is done in JavaScript in float32.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, heapView, type WasmHeapBackend } from '../heap-kernels.js';
import { simdKernels, type SimdKernels } from './index.js';

/** Small per-call scratch: float64 accumulators, sums, and per-channel vectors, freed by release(). */
class Scratch {
  readonly info: tf.TensorInfo;
  constructor(
    private readonly backend: WasmHeapBackend,
    readonly C: number,
    vectors: number,
  ) {
    // 4*C slots for 2*C float64 accumulators, 2*C for sums, then `vectors` vectors of C
    this.info = backend.makeOutput([(6 + vectors) * C], 'float32');
  }
  private base(): number {
    return heapOffset(this.backend, this.info);
  }
  get acc(): { byteOffset: number } {
    return { byteOffset: this.base() };
  }
  get sums(): { byteOffset: number } {
    return { byteOffset: this.base() + 16 * this.C };
  }
  vector(i: number): { byteOffset: number } {
    return { byteOffset: this.base() + (6 + i) * this.C * 4 };
  }
  /** Float32 view of the sums (2*C) followed by the vectors. */
  view(): Float32Array {
    return heapView(this.backend, this.info).subarray(4 * this.C);
  }
  release(): void {
    this.backend.disposeData(this.info.dataId, true);
  }
}

function wrap(backend: WasmHeapBackend, info: tf.TensorInfo): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(info, backend as unknown as tf.KernelBackend);
}

function vectorTensor(backend: WasmHeapBackend, values: Float32Array): tf.Tensor1D {
  const info = backend.makeOutput([values.length], 'float32');
  heapView(backend, info).set(values);
  return wrap(backend, info) as tf.Tensor1D;
}

/** The SIMD batch norm when it applies here (wasm backend, channels a multiple of 4), else undefined. */
export function simdBatchNorm(channels: number): SimdKernels | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return simdKernels(tf.backend() as unknown as WasmHeapBackend, channels);
}

/** y = batchnorm(x) with batch statistics; as batchNormTraining in fused-batchnorm.ts. */
export function simdBatchNormTraining(
  simd: SimdKernels,
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const backend = tf.backend() as unknown as WasmHeapBackend;
  const C = x.shape[3];
  const N = x.size / C;
  const stats: { mean?: tf.Tensor1D; variance?: tf.Tensor1D } = {};
  const op = tf.customGrad(((xIn: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const s = new Scratch(backend, C, 2);
    const gammaV = g.dataSync() as Float32Array;
    const mean = new Float32Array(C);
    const variance = new Float32Array(C);
    const k = new Float32Array(C);
    const rstd = new Float32Array(C);
    const xcInfo = backend.makeOutput(xIn.shape, 'float32');
    const yInfo = backend.makeOutput(xIn.shape, 'float32');
    try {
      // mean; xc = x - mean (ka = 1, add = -mean)
      simd.channelSums(backend, xIn, undefined, N, C, s.acc, s.sums);
      let v = s.view();
      for (let c = 0; c < C; c++) {
        mean[c] = Math.fround(v[c] / N);
        v[2 * C + c] = 1;
        v[3 * C + c] = -mean[c];
      }
      simd.channelAffine(backend, xIn, s.vector(0), undefined, undefined, s.vector(1), xcInfo, N, C);
      // variance = mean(xc^2); y = xc * (gamma * rstd) + beta
      simd.channelSums(backend, xcInfo, xcInfo, N, C, s.acc, s.sums);
      v = s.view();
      for (let c = 0; c < C; c++) {
        variance[c] = Math.fround(v[C + c] / N);
        rstd[c] = Math.fround(1 / Math.sqrt(Math.fround(variance[c] + epsilon)));
        k[c] = Math.fround(gammaV[c] * rstd[c]);
        v[2 * C + c] = k[c];
      }
      simd.channelAffine(backend, xcInfo, s.vector(0), undefined, undefined, b, yInfo, N, C);
    } finally {
      s.release();
    }
    const xc = wrap(backend, xcInfo);
    stats.mean = tf.keep(vectorTensor(backend, mean));
    stats.variance = tf.keep(vectorTensor(backend, variance));
    save([xc]);
    return {
      value: wrap(backend, yInfo),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xcS] = saved;
        const gs = new Scratch(backend, C, 3);
        const dxInfo = backend.makeOutput(xcS.shape, 'float32');
        const dGamma = new Float32Array(C);
        const dBeta = new Float32Array(C);
        try {
          simd.channelSums(backend, dy as tf.Tensor, xcS, N, C, gs.acc, gs.sums);
          const v = gs.view();
          // dx = k * (dy - sum(dy)/N - xc * rstd^2 * sum(dy*xc)/N) = dy*k + xc*(k*c1) + k*(-sum(dy)/N)
          for (let c = 0; c < C; c++) {
            const sumDy = v[c];
            const sumDyXc = v[C + c];
            dBeta[c] = sumDy;
            dGamma[c] = Math.fround(sumDyXc * rstd[c]);
            v[2 * C + c] = k[c];
            v[3 * C + c] = Math.fround(k[c] * Math.fround(rstd[c] * rstd[c]) * Math.fround(-sumDyXc / N));
            v[4 * C + c] = Math.fround(k[c] * Math.fround(-sumDy / N));
          }
          simd.channelAffine(backend, dy as tf.Tensor, gs.vector(0), xcS, gs.vector(1), gs.vector(2), dxInfo, N, C);
        } finally {
          gs.release();
        }
        return [wrap(backend, dxInfo), vectorTensor(backend, dGamma), vectorTensor(backend, dBeta)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta);
  return { y, mean: stats.mean as tf.Tensor1D, variance: stats.variance as tf.Tensor1D };
}
