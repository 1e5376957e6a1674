/**
 * The operations the saliency graph runner (graph.ts) computes with their own backward pass: guided
 * ReLUs (plain, capped) and the stride-1 depthwise convolution whose input gradient is supplied where
 * the backend lacks the kernel.
 */
import * as tf from '@tensorflow/tfjs';
// Registers the training engine's wasm gradient kernels (XNNPACK-backed conv and depthwise input
// gradients, max-pool gradient): the backward pass needs the input-gradient ones.
import '../engine/wasm-kernels.js';

export type ReluMode = 'plain' | 'guided';

/** An activation's name (a tfjs activation, or 'relu-clip' for a ReLU layer with a max value). */
export type ActName = string;

/** tf.customGrad for a one-input function (tfjs' typing wants variadic inputs). */
function customGrad1(
  fn: (x: tf.Tensor, save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor },
): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
}

/** ReLU whose backward pass passes only positive gradients where the forward input was positive. */
export const guidedRelu = customGrad1((x, save) => {
  save([x]);
  return {
    value: tf.relu(x),
    gradFunc: (dy, saved) => tf.mul(tf.relu(dy), tf.step(saved[0])),
  };
});

/** Guided version of min(max(x, 0), cap): gate is 0 < x < cap and dy > 0. */
function guidedReluCapped(x: tf.Tensor, cap: number): tf.Tensor {
  const f = customGrad1((xin, save) => {
    save([xin]);
    return {
      value: tf.clipByValue(xin, 0, cap),
      gradFunc: (dy, saved) => tf.mul(tf.relu(dy), tf.mul(tf.step(saved[0]), tf.step(tf.sub(cap, saved[0])))),
    };
  });
  return f(x);
}

export function applyActivation(x: tf.Tensor, name: ActName, relu: ReluMode, cap?: number | null): tf.Tensor {
  switch (name) {
    case 'relu':
      return relu === 'guided' ? guidedRelu(x) : tf.relu(x);
    case 'relu6':
      return relu === 'guided' ? guidedReluCapped(x, 6) : tf.relu6(x);
    case 'relu-clip':
      return relu === 'guided' ? guidedReluCapped(x, cap ?? Infinity) : tf.clipByValue(tf.relu(x), 0, cap ?? Infinity);
    default:
      return tf.layers.activation({ activation: name as 'linear' }).apply(x) as tf.Tensor;
  }
}

/** Explicit padding [top, bottom, left, right] tfjs uses for a stride-1 convolution. */
function stride1Padding(padding: string, kh: number, kw: number, dh: number, dw: number): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const eh = (kh - 1) * dh;
  const ew = (kw - 1) * dw;
  return [Math.floor(eh / 2), eh - Math.floor(eh / 2), Math.floor(ew / 2), ew - Math.floor(ew / 2)];
}

let nativeDepthwiseGrad: { backend: string; has: boolean } | null = null;
function backendHasDepthwiseInputGrad(): boolean {
  const backend = tf.getBackend();
  if (nativeDepthwiseGrad?.backend !== backend) {
    nativeDepthwiseGrad = { backend, has: tf.getKernel('DepthwiseConv2dNativeBackpropInput', backend) !== undefined };
  }
  return nativeDepthwiseGrad.has;
}

/** Force the custom depthwise input gradient even where the backend has the kernel (tests, benchmarks). */
export const depthwiseGradPolicy = { mode: 'auto' as 'auto' | 'custom' | 'native' };

/**
 * Stride-1 depthwise convolution whose input gradient is computed as a depthwise convolution of dy
 * with the spatially flipped kernel ("full" padding minus the forward padding), summed over the
 * channel multiplier. The kernel gets no gradient (saliency only differentiates the input).
 */
export function depthwiseStride1(x: tf.Tensor4D, w: tf.Tensor4D, flipped: tf.Tensor4D, padding: 'same' | 'valid', dil: [number, number]): tf.Tensor4D {
  const useNative = depthwiseGradPolicy.mode === 'native' || (depthwiseGradPolicy.mode === 'auto' && backendHasDepthwiseInputGrad());
  if (useNative) return tf.depthwiseConv2d(x, w, 1, padding, 'NHWC', dil);
  const [kh, kw, c, m] = w.shape;
  const [pt, pb, pl, pr] = stride1Padding(padding, kh, kw, dil[0], dil[1]);
  const eh = (kh - 1) * dil[0];
  const ew = (kw - 1) * dil[1];
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [eh - pt, eh - pb],
    [ew - pl, ew - pr],
    [0, 0],
  ];
  const f = customGrad1((xin) => ({
    value: tf.depthwiseConv2d(xin as tf.Tensor4D, w, 1, padding, 'NHWC', dil),
    gradFunc: (dy) => {
      const g = tf.depthwiseConv2d(dy as tf.Tensor4D, flipped, 1, pad, 'NHWC', dil);
      if (m === 1) return g;
      const [n, h, wd] = g.shape;
      return tf.sum(tf.reshape(g, [n, h, wd, c, m]), 4);
    },
  }));
  return f(x) as tf.Tensor4D;
}
