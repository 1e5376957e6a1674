/**
 * WebAssembly SIMD kernels (kernels.wat) running directly on the tfjs wasm backend's heap: the
 * module imports the backend's WebAssembly.Memory, so tensors are read and written in place. They
 * replace what scalar JavaScript loops or broadcasting tfjs kernels handled worst (see README,
 * training engine): MaxPoolGrad, whose data-dependent branches cost ~5 ns per window tap, the
 * depthwise filter gradient, and the training batch norm's passes (simd/batchnorm.ts).
 *
 * Used only when the channel count is a multiple of 4 (every pooled, depthwise or normalised layer
 * in the zoo); otherwise, without WebAssembly SIMD, or with FACECLS_SIMD_KERNELS=0 the JavaScript
 * loops in heap-kernels.ts and the tfjs ops run instead.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ConvGeometry } from '../conv-grads.js';
import { heapOffset, type PoolGeometry, type WasmHeapBackend } from '../heap-kernels.js';
import { settings } from '../../settings.js';
import { KERNELS_WASM_BASE64 } from './kernels.generated.js';

type Fn = (...args: number[]) => void;

/** A tensor on the heap, or a byte offset into one (e.g. a vector inside a scratch tensor). */
export type HeapRef = tf.TensorInfo | { byteOffset: number };

export interface SimdKernels {
  /**
   * Per-channel sums of an [N, C] tensor: out[c] = sum src; with src2 also out[C + c] = sum src*src2.
   * out holds 2*C float32 values; scratch holds 4*C float32 slots (2*C float64 accumulators).
   */
  channelSums(backend: WasmHeapBackend, src: HeapRef, src2: HeapRef | undefined, N: number, C: number, scratch: HeapRef, out: HeapRef): void;
  /** dst = a*ka + add, or a*ka + b*kb + add with b (ka, kb, add: per-channel float32 vectors). */
  channelAffine(
    backend: WasmHeapBackend,
    a: HeapRef,
    ka: HeapRef,
    b: HeapRef | undefined,
    kb: HeapRef | undefined,
    add: HeapRef,
    dst: HeapRef,
    N: number,
    C: number,
  ): void;
  /** dx = max-pool gradient of dy for input x (all tensors on the backend's heap). */
  maxPoolGrad(backend: WasmHeapBackend, x: tf.TensorInfo, dy: tf.TensorInfo, dx: tf.TensorInfo, g: PoolGeometry): void;
  /** out[kH, kW, C, 1] = depthwise filter gradient (channel multiplier 1). */
  depthwiseFilterGrad(backend: WasmHeapBackend, x: tf.TensorInfo, dy: tf.TensorInfo, out: tf.TensorInfo, C: number, g: ConvGeometry): void;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

function compile(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    // atob: Node and browsers alike (the page's saliency runs these gradients too). Synchronous
    // compilation is fine for a module this small (browsers refuse it on the main thread above 4 KB).
    const bytes = Uint8Array.from(atob(KERNELS_WASM_BASE64), (ch) => ch.charCodeAt(0));
    compiled = new WebAssembly.Module(bytes);
  } catch {
    compiled = null; // no WebAssembly SIMD here: the JavaScript loops are used
  }
  return compiled;
}

function offset(backend: WasmHeapBackend, t: HeapRef): number {
  return 'byteOffset' in t ? t.byteOffset : heapOffset(backend, t);
}

/**
 * The SIMD kernels bound to this backend's memory, for tensors with `channels` channels; undefined
 * where they cannot run (channels not a multiple of 4, no WebAssembly SIMD, FACECLS_SIMD_KERNELS=0).
 */
export function simdKernels(backend: WasmHeapBackend, channels: number): SimdKernels | undefined {
  if (channels % 4 !== 0 || !settings.simdKernels()) return undefined;
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  const cached = instances.get(memory);
  if (cached) return cached;
  const mod = compile();
  if (!mod) return undefined;
  const exports = new WebAssembly.Instance(mod, { env: { memory } }).exports as Record<
    'maxPoolGrad' | 'depthwiseFilterGrad' | 'channelSums' | 'channelAffine',
    Fn
  >;
  const geometry = (g: ConvGeometry) => [g.batch, g.inH, g.inW, g.outH, g.outW, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft];
  const kernels: SimdKernels = {
    channelSums(b, src, src2, N, C, scratch, out) {
      exports.channelSums(offset(b, src), src2 ? offset(b, src2) : 0, N, C, offset(b, scratch), offset(b, out));
    },
    channelAffine(b, a, ka, bb, kb, add, dst, N, C) {
      exports.channelAffine(offset(b, a), offset(b, ka), bb ? offset(b, bb) : 0, kb ? offset(b, kb) : 0, offset(b, add), offset(b, dst), N, C);
    },
    maxPoolGrad(b, x, dy, dx, g) {
      exports.maxPoolGrad(offset(b, x), offset(b, dy), offset(b, dx), ...geometry(g), g.channels);
    },
    depthwiseFilterGrad(b, x, dy, out, C, g) {
      // float64 accumulators in a scratch tensor on the same heap, released right after
      const scratch = b.makeOutput([g.kH * g.kW * C * 2], 'float32');
      try {
        exports.depthwiseFilterGrad(offset(b, x), offset(b, dy), offset(b, scratch), offset(b, out), ...geometry(g), C);
      } finally {
        b.disposeData(scratch.dataId);
      }
    },
  };
  instances.set(memory, kernels);
  return kernels;
}
