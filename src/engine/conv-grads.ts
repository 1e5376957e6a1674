/**
 * Convolution gradients expressed through forward kernels the wasm backend already runs at native
 * speed (XNNPACK convolutions and matrix products), instead of element loops:
 *
 * - conv filter gradient = a convolution of the input (batch and channels swapped) with the output
 *   gradient as the filter, dilated by the forward stride; a 1x1 filter gradient is one matrix product.
 * - depthwise filter gradient = a depthwise convolution of the input (batch folded into channels) with
 *   the output gradient as the filter, summed over the batch.
 * - input gradients (conv and depthwise) = a stride-1 convolution of the zero-dilated, padded output
 *   gradient with the spatially flipped filter.
 *
 * All functions take and return NHWC tensors and are backend-independent tfjs ops; src/engine/
 * wasm-kernels.ts registers them as the wasm backend's gradient kernels.
 */
import * as tf from '@tensorflow/tfjs';

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

/** Forward geometry of a conv (padding resolved exactly as tfjs resolves it). */
export function convGeometry(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad as 'same' | 'valid',
    dimRoundingMode,
    depthwise,
  );
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    outH: info.outHeight,
    outW: info.outWidth,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Pad (positive) or crop (negative) the two spatial axes of an NHWC tensor. */
function padOrCrop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let r = t;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    r = tf.pad(r, [
      [0, 0],
      [Math.max(top, 0), Math.max(bottom, 0)],
      [Math.max(left, 0), Math.max(right, 0)],
      [0, 0],
    ]);
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = r.shape;
    const t0 = Math.max(-top, 0);
    const l0 = Math.max(-left, 0);
    r = tf.slice(r, [0, t0, l0, 0], [n, h - t0 - Math.max(-bottom, 0), w - l0 - Math.max(-right, 0), c]);
  }
  return r;
}

/**
 * The padded input the forward conv reads. Only pads (slicing large tensors is slow on wasm); rows
 * and columns past the last window are left in place, and callers crop their (small) results.
 */
function inputWindow(x: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const needH = (g.outH - 1) * g.strideH + g.kH;
  const needW = (g.outW - 1) * g.strideW + g.kW;
  return padOrCrop(x, g.padTop, Math.max(needH - g.inH - g.padTop, 0), g.padLeft, Math.max(needW - g.inW - g.padLeft, 0));
}

/** Crop the leading [kH, kW] of a spatial result computed over a larger-than-needed window. */
function cropLeading(t: tf.Tensor4D, axisH: number, kH: number, kW: number): tf.Tensor4D {
  if (t.shape[axisH] === kH && t.shape[axisH + 1] === kW) return t;
  const size = [...t.shape];
  size[axisH] = kH;
  size[axisH + 1] = kW;
  return tf.slice(t, [0, 0, 0, 0], size);
}

/** x[:, ::sh, ::sw, :] up to [outH, outW], as a 1x1 depthwise conv (XNNPACK) instead of a slow strided slice. */
function subsample(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const c = x.shape[3];
  return tf.depthwiseConv2d(x, tf.ones([1, 1, c, 1]) as tf.Tensor4D, [sh, sw], 'valid');
}

/**
 * Insert stride-1 zeros after every row and column: [n,h,w,c] -> [n,h*sh,w*sw,c]. The trailing
 * zero rows/columns are kept (callers adjust their padding) because cropping is slow on wasm.
 */
export function dilateSpatial(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const expanded = tf.reshape(t, [n, h, 1, w, 1, c]);
  const padded = tf.pad(expanded, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(padded, [n, h * sh, w * sw, c]) as tf.Tensor4D;
}

/** dL/dW of conv2d(x, W): [kH, kW, inC, outC]. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const inC = x.shape[3];
  const outC = dy.shape[3];
  const xw = inputWindow(x, g);
  if (g.kH === 1 && g.kW === 1) {
    const xs = subsample(xw, g.strideH, g.strideW);
    if (xs.shape[1] !== g.outH || xs.shape[2] !== g.outW) throw new Error('conv2dFilterGrad: unexpected 1x1 window');
    // An explicit transpose + plain product is several times faster on wasm than transposeA.
    const dw = tf.matMul(tf.transpose(tf.reshape(xs, [-1, inC])), tf.reshape(dy, [-1, outC]));
    return tf.reshape(dw, [1, 1, inC, outC]);
  }
  // Swap batch and channels: the input becomes [inC, H, W, batch] and dy the filter [outH, outW, batch, outC].
  const xT = tf.transpose(xw, [3, 1, 2, 0]) as tf.Tensor4D;
  const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
  const dilations: [number, number] = [g.strideH, g.strideW];
  const out = cropLeading(tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', dilations), 1, g.kH, g.kW); // [inC, kH, kW, outC]
  return tf.transpose(out, [1, 2, 0, 3]);
}

/** dL/dW of depthwiseConv2d(x, W) with channel multiplier m: [kH, kW, inC, m]. */
export function depthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry, multiplier: number): tf.Tensor4D {
  const inC = x.shape[3];
  const n = g.batch;
  const xw = inputWindow(x, g);
  const [, hw, ww] = xw.shape;
  // Fold the batch into channels: input [1, H, W, n*inC], filter [outH, outW, n*inC, 1].
  const xT = tf.reshape(tf.transpose(xw, [1, 2, 0, 3]), [1, hw, ww, n * inC]) as tf.Tensor4D;
  const dilations: [number, number] = [g.strideH, g.strideW];
  const perM: tf.Tensor4D[] = [];
  const dy5 = multiplier === 1 ? null : tf.reshape(dy, [n, g.outH, g.outW, inC, multiplier]);
  for (let j = 0; j < multiplier; j++) {
    const dyj = dy5 ? tf.reshape(tf.slice(dy5, [0, 0, 0, 0, j], [n, g.outH, g.outW, inC, 1]), [n, g.outH, g.outW, inC]) : dy;
    const dyT = tf.reshape(tf.transpose(dyj, [1, 2, 0, 3]), [g.outH, g.outW, n * inC, 1]) as tf.Tensor4D;
    const out = cropLeading(tf.depthwiseConv2d(xT, dyT, 1, 'valid', 'NHWC', dilations), 1, g.kH, g.kW); // [1, kH, kW, n*inC]
    perM.push(tf.reshape(tf.sum(tf.reshape(out, [g.kH, g.kW, n, inC]), 2), [g.kH, g.kW, inC, 1]));
  }
  return perM.length === 1 ? perM[0] : tf.concat(perM, 3);
}

/** Pad the (zero-dilated) output gradient so a stride-1 valid conv with the flipped filter yields dx. */
function paddedForInputGrad(dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const d = dilateSpatial(dy, g.strideH, g.strideW);
  const dh = d.shape[1];
  const dw = d.shape[2];
  const top = g.kH - 1 - g.padTop;
  const left = g.kW - 1 - g.padLeft;
  return padOrCrop(d, top, g.inH + g.kH - 1 - dh - top, left, g.inW + g.kW - 1 - dw - left);
}

/** dL/dx of depthwiseConv2d(x, W): a depthwise conv of the padded gradient with the flipped filter. */
export function depthwiseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const [, , inC, m] = filter.shape;
  const flipped = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
  if (m === 1) return tf.depthwiseConv2d(paddedForInputGrad(dy, g), flipped, 1, 'valid');
  const dy5 = tf.reshape(dy, [g.batch, g.outH, g.outW, inC, m]);
  let dx: tf.Tensor4D | null = null;
  for (let j = 0; j < m; j++) {
    const dyj = tf.reshape(tf.slice(dy5, [0, 0, 0, 0, j], [g.batch, g.outH, g.outW, inC, 1]), [g.batch, g.outH, g.outW, inC]) as tf.Tensor4D;
    const fj = tf.slice(flipped, [0, 0, 0, j], [g.kH, g.kW, inC, 1]);
    const part = tf.depthwiseConv2d(paddedForInputGrad(dyj, g), fj, 1, 'valid');
    dx = dx ? (tf.add(dx, part) as tf.Tensor4D) : part;
  }
  return dx as tf.Tensor4D;
}

/** dL/dx of conv2d(x, W): a conv of the padded gradient with the flipped, in/out-swapped filter. */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const [kH, kW, inC, outC] = filter.shape;
  if (kH === 1 && kW === 1) {
    // Project the gradient back through the 1x1 filter, then place it on the strided input grid.
    const wT = tf.transpose(tf.reshape(filter, [inC, outC]));
    const proj = tf.reshape(tf.matMul(tf.reshape(dy, [-1, outC]), wT), [g.batch, g.outH, g.outW, inC]) as tf.Tensor4D;
    return paddedForInputGrad(proj, g);
  }
  const w = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  return tf.conv2d(paddedForInputGrad(dy, g), w, 1, 'valid');
}
