/**
 * Keras-style building blocks over tfjs-layers' functional API.
 * Each block takes a symbolic tensor and returns the block's output, so new architectures
 * are written as a few lines of block calls (see README "Defining an architecture").
 */
import * as tf from '@tensorflow/tfjs';

export type Sym = tf.SymbolicTensor;
export type Padding = 'same' | 'valid';

export interface RegOptions {
  /** L2 factor on conv kernels (Keras `kernel_regularizer=l2(x)`); 0 or undefined = none. */
  l2?: number;
}

export interface ConvOptions extends RegOptions {
  kernel?: number;
  strides?: number;
  padding?: Padding;
  useBias?: boolean;
  name?: string;
}

function apply(layer: tf.layers.Layer, x: Sym | Sym[]): Sym {
  return layer.apply(x) as Sym;
}

export function l2Regularizer(l2?: number): ReturnType<typeof tf.regularizers.l2> | undefined {
  return l2 && l2 > 0 ? tf.regularizers.l2({ l2 }) : undefined;
}

/** The layer arguments every convolution block shares, with their defaults (3x3, stride 1, same, bias). */
function convArgs(filters: number, opts: ConvOptions) {
  return { filters, kernelSize: opts.kernel ?? 3, strides: opts.strides ?? 1, padding: opts.padding ?? 'same', useBias: opts.useBias ?? true, name: opts.name };
}

export function conv(x: Sym, filters: number, opts: ConvOptions = {}): Sym {
  return apply(tf.layers.conv2d({ ...convArgs(filters, opts), kernelRegularizer: l2Regularizer(opts.l2) }), x);
}

export function separableConv(x: Sym, filters: number, opts: ConvOptions = {}): Sym {
  const reg = l2Regularizer(opts.l2);
  return apply(tf.layers.separableConv2d({ ...convArgs(filters, opts), depthwiseRegularizer: reg, pointwiseRegularizer: reg }), x);
}

/** Keras BatchNormalization defaults (momentum 0.99, epsilon 1e-3). */
export function batchNorm(x: Sym, name?: string): Sym {
  return apply(tf.layers.batchNormalization({ axis: -1, momentum: 0.99, epsilon: 1e-3, name }), x);
}

export function relu(x: Sym, name?: string): Sym {
  return apply(tf.layers.activation({ activation: 'relu', name }), x);
}

export function dropout(x: Sym, rate: number): Sym {
  return rate > 0 ? apply(tf.layers.dropout({ rate }), x) : x;
}

export function avgPool(x: Sym, pool = 2): Sym {
  return apply(tf.layers.averagePooling2d({ poolSize: pool, strides: pool, padding: 'same' }), x);
}

export function maxPool(x: Sym, pool = 3, strides = 2): Sym {
  return apply(tf.layers.maxPooling2d({ poolSize: pool, strides, padding: 'same' }), x);
}

export function add(xs: Sym[]): Sym {
  return apply(tf.layers.add(), xs);
}

/** conv -> batch norm -> ReLU (the Xception stem and sequential-CNN unit). */
export function convBnRelu(x: Sym, filters: number, opts: ConvOptions = {}): Sym {
  return relu(batchNorm(conv(x, filters, { useBias: false, ...opts })));
}

export interface XceptionModuleOptions extends RegOptions {
  /** Apply ReLU before the first separable conv (big Xception's middle modules). */
  preActivation?: boolean;
  /** L2 on the 1x1 residual projection too (the paper's code leaves it unregularised). */
  regularizeResidual?: boolean;
  /**
   * L2 on the separable convs' depthwise and pointwise kernels too. The paper's code passes
   * kernel_regularizer to SeparableConv2D, which Keras ignores (its released .hdf5 configs show no
   * regulariser there); with Adam, L2 on these kernels drives most of them to denormal values
   * (slow arithmetic, dead channels), so it is off by default.
   */
  regularizeSeparable?: boolean;
}

/**
 * Depthwise-separable residual module (the paper's Xception block), halving resolution:
 *   A: 1x1 conv stride 2 + BN
 *   B: [ReLU] sepconv3x3 + BN + ReLU, sepconv3x3 + BN, maxpool 3x3 stride 2 (same)
 *   out = A + B
 */
export function xceptionModule(x: Sym, filters: number, opts: XceptionModuleOptions = {}): Sym {
  const residual = batchNorm(conv(x, filters, { kernel: 1, strides: 2, padding: 'same', useBias: false, l2: opts.regularizeResidual ? opts.l2 : 0 }));
  let y = opts.preActivation ? relu(x) : x;
  const sepL2 = opts.regularizeSeparable ? opts.l2 : 0;
  y = relu(batchNorm(separableConv(y, filters, { useBias: false, l2: sepL2 })));
  y = batchNorm(separableConv(y, filters, { useBias: false, l2: sepL2 }));
  y = maxPool(y, 3, 2);
  return add([y, residual]);
}

export interface HeadOptions extends RegOptions {
  kernel?: number;
}

/** Fully-convolutional head: conv to one channel per class -> global average pooling -> softmax. */
export function classificationHead(x: Sym, numClasses: number, opts: HeadOptions = {}): Sym {
  const y = conv(x, numClasses, { kernel: opts.kernel ?? 3, padding: 'same', useBias: true, l2: opts.l2 });
  const pooled = apply(tf.layers.globalAveragePooling2d({}), y);
  return apply(tf.layers.activation({ activation: 'softmax', name: 'predictions' }), pooled);
}

export function input(size: number, channels: number): Sym {
  return tf.input({ shape: [size, size, channels], name: 'image' });
}
