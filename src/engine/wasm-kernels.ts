/**
 * Makes ordinary tfjs training (model.fit, optimizers, regularisers) work on the wasm backend.
 *
 * The wasm backend lacks Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput, and its Conv2DBackpropInput is a scalar C loop. This module
 * registers wasm kernels for all four, each built from XNNPACK-backed forward ops (see conv-grads.ts),
 * and replaces the FusedBatchNorm gradient with one that needs no Tile and shares its reductions.
 *
 * Importing this module is enough: registration happens at import and again (idempotently) whenever
 * a backend is activated through src/engine/backend.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { settings } from '../settings.js';
import { onBackendReady } from './backend.js';
import { conv2dFilterGrad, conv2dInputGrad, convGeometry, depthwiseFilterGrad, depthwiseInputGrad, type ConvGeometry } from './conv-grads.js';
import { installFusedBatchNorm } from './fused-batchnorm.js';
import { depthwiseFilterGradLoop, heapView, maxPoolGradLoop, type WasmHeapBackend } from './heap-kernels.js';
import { simdKernels } from './simd/index.js';

type TensorInfo = tf.TensorInfo;
interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  attrs?: Record<string, unknown>;
  backend: tf.KernelBackend & { incRef?: (dataId: object) => void };
}
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/**
 * Run tfjs ops inside a kernel: wrap the kernel's inputs as tensors (holding an extra backend
 * reference so disposing the wrappers leaves the inputs alive) and hand the result's data back to
 * the engine without copying.
 */
function opsKernel(compute: (inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) => tf.Tensor) {
  return ({ inputs, attrs, backend }: KernelArgs): TensorInfo => {
    const engine = tf.engine();
    const out = tf.tidy(() => {
      const wrapped: Record<string, tf.Tensor> = {};
      for (const [k, info] of Object.entries(inputs)) {
        backend.incRef?.(info.dataId);
        wrapped[k] = engine.makeTensorFromTensorInfo(info, backend);
      }
      return compute(wrapped, attrs ?? {});
    });
    backend.incRef?.(out.dataId);
    const info: TensorInfo = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
    out.dispose();
    return info;
  };
}

function requireNHWC(attrs: Record<string, unknown>, op: string): void {
  const f = attrs.dataFormat as string | undefined;
  if (f !== undefined && f !== 'NHWC' && f !== 'channelsLast') {
    throw new Error(`${op} on wasm (facecls engine): only NHWC data format is supported, got ${f}`);
  }
}

function geometry(xShape: number[], filterShape: number[], attrs: Record<string, unknown>, depthwise: boolean): ConvGeometry {
  return convGeometry(xShape, filterShape, attrs.strides as number | [number, number], attrs.pad as Pad, attrs.dimRoundingMode as Rounding, depthwise);
}

function requireUnitDilation(attrs: Record<string, unknown>, op: string): void {
  const d = attrs.dilations as number | number[] | undefined;
  const ds = d === undefined ? [1] : Array.isArray(d) ? d : [d];
  if (ds.some((v) => v !== 1)) throw new Error(`${op}: dilation rates > 1 are not supported in gradients (got ${ds})`);
}

/** The wasm backend's own kernels that this module replaces, kept for the cases it hands back. */
const stockKernels = new Map<string, tf.KernelConfig>();
const stockSetUp = new Set<string>();

function stockKernel(name: string, args: KernelArgs): TensorInfo {
  const k = stockKernels.get(name);
  if (!k) throw new Error(`${name}: no wasm kernel available for this configuration`);
  if (k.setupFunc && !stockSetUp.has(name)) {
    k.setupFunc(args.backend);
    stockSetUp.add(name);
  }
  return k.kernelFunc(args as never) as TensorInfo;
}

const KERNELS: Array<{ name: string; func: (args: KernelArgs) => TensorInfo }> = [
  {
    name: 'Conv2DBackpropFilter',
    func: opsKernel(({ x, dy }, attrs) => {
      requireNHWC(attrs, 'Conv2DBackpropFilter');
      const filterShape = attrs.filterShape as number[];
      return conv2dFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, geometry(x.shape, filterShape, attrs, false));
    }),
  },
  {
    name: 'Conv2DBackpropInput',
    func: (args: KernelArgs): TensorInfo => {
      const f = args.attrs?.dataFormat as string | undefined;
      // NCHW (rare on wasm): keep the backend's own kernel.
      if (f === 'NCHW' || f === 'channelsFirst') return stockKernel('Conv2DBackpropInput', args);
      return opsKernel(({ dy, filter }, attrs) => {
        const inputShape = attrs.inputShape as number[];
        return conv2dInputGrad(dy as tf.Tensor4D, filter as tf.Tensor4D, geometry(inputShape, filter.shape, attrs, false));
      })(args);
    },
  },
  {
    name: 'DepthwiseConv2dNativeBackpropFilter',
    func: (args: KernelArgs): TensorInfo => {
      const { inputs, attrs = {} } = args;
      requireUnitDilation(attrs, 'DepthwiseConv2dNativeBackpropFilter');
      const filterShape = attrs.filterShape as number[];
      if (filterShape[3] !== 1) {
        return opsKernel(({ x, dy }) => depthwiseFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, geometry(x.shape, filterShape, attrs, true), filterShape[3]))(
          args,
        );
      }
      const backend = args.backend as unknown as WasmHeapBackend;
      const g = geometry(inputs.x.shape, filterShape, attrs, true);
      const out = backend.makeOutput(filterShape, 'float32');
      const simd = simdKernels(backend, filterShape[2]);
      if (simd) simd.depthwiseFilterGrad(backend, inputs.x, inputs.dy, out, filterShape[2], g);
      else heapView(backend, out).set(depthwiseFilterGradLoop(heapView(backend, inputs.x), heapView(backend, inputs.dy), filterShape[2], g));
      return out;
    },
  },
  {
    name: 'MaxPoolGrad',
    func: (args: KernelArgs): TensorInfo => {
      const { inputs, attrs = {} } = args;
      const backend = args.backend as unknown as WasmHeapBackend;
      const x = inputs.input;
      const info = tf.backend_util.computePool2DInfo(
        x.shape as [number, number, number, number],
        attrs.filterSize as number | [number, number],
        attrs.strides as number | [number, number],
        1,
        attrs.pad as 'same' | 'valid',
        attrs.dimRoundingMode as Rounding,
      );
      const out = backend.makeOutput(x.shape, 'float32');
      const g = {
        batch: info.batchSize,
        inH: info.inHeight,
        inW: info.inWidth,
        outH: info.outHeight,
        outW: info.outWidth,
        kH: info.effectiveFilterHeight,
        kW: info.effectiveFilterWidth,
        strideH: info.strideHeight,
        strideW: info.strideWidth,
        padTop: info.padInfo.top,
        padLeft: info.padInfo.left,
        channels: info.inChannels,
      };
      const simd = simdKernels(backend, g.channels);
      if (simd) simd.maxPoolGrad(backend, x, inputs.dy, out, g);
      else maxPoolGradLoop(heapView(backend, x), heapView(backend, inputs.dy), heapView(backend, out), g);
      return out;
    },
  },
  {
    name: 'DepthwiseConv2dNativeBackpropInput',
    func: opsKernel(({ dy, filter }, attrs) => {
      requireUnitDilation(attrs, 'DepthwiseConv2dNativeBackpropInput');
      const inputShape = attrs.inputShape as number[];
      return depthwiseInputGrad(dy as tf.Tensor4D, filter as tf.Tensor4D, geometry(inputShape, filter.shape, attrs, true));
    }),
  },
];

/**
 * Gradient of FusedBatchNorm (y = (x - mean) * rsqrt(var + eps) * scale + offset) with per-channel
 * parameters broadcast instead of tiled, and the two batch reductions (sum dy, sum dy*(x-mean))
 * computed once and shared by the mean, variance, scale and offset gradients.
 */
const stockBatchNormGrad: tf.GradConfig | undefined = tf.getGradient('FusedBatchNorm') ?? undefined;

export const batchNormGradConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    // Only wasm gets the new gradient: the cpu backend stays stock tfjs (the reference in tests).
    if (tf.getBackend() !== 'wasm' && stockBatchNormGrad) return stockBatchNormGrad.gradFunc(dy, saved, attrs);
    const g = dy as tf.Tensor;
    const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    const [x, mean, variance, scale] = saved;
    const scaleValue = scale ?? tf.scalar(1);
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor) => (axes.length > 0 ? tf.reshape(tf.sum(t, axes), mean.shape) : t);
    // Shared terms are computed here, not lazily: each input's gradient runs in its own tidy scope,
    // which would dispose a memoised tensor before the next input's gradient used it.
    const rsqrt = tf.rsqrt(tf.add(variance, eps));
    const sumDy = reduce(g);
    const sumDyXmu = reduce(tf.mul(g, tf.sub(x, mean)));
    return {
      x: () => tf.mul(g, tf.mul(rsqrt, scaleValue)),
      mean: () => tf.mul(sumDy, tf.mul(tf.neg(rsqrt), scaleValue)),
      variance: () => tf.mul(sumDyXmu, tf.mul(tf.mul(tf.pow(rsqrt, 3), -0.5), scaleValue)),
      scale: () => tf.mul(sumDyXmu, rsqrt),
      // A fresh tensor: the backprop engine disposes an input gradient once accumulated.
      offset: () => tf.clone(sumDy),
    };
  },
};

let registered = false;

/** Register the engine's wasm gradient kernels and gradient configs (idempotent). */
export function registerTrainingKernels(): void {
  if (registered) return;
  registered = true;
  for (const k of KERNELS) {
    const stock = tf.getKernel(k.name, 'wasm');
    if (stock) {
      stockKernels.set(k.name, stock);
      tf.unregisterKernel(k.name, 'wasm');
    }
    tf.registerKernel({ kernelName: k.name, backendName: 'wasm', kernelFunc: k.func as unknown as tf.KernelFunc });
  }
  tf.registerGradient(batchNormGradConfig);
  if (!settings.stockBatchNorm()) installFusedBatchNorm();
}

registerTrainingKernels();
onBackendReady(() => registerTrainingKernels());
