/**
 * Keras 2 layer configs -> tfjs-layers layers (channels_last), for the layer types the paper's
 * models use. Every attribute is checked: one that changes what the layer computes and that we do
 * not translate is a UserError naming the layer, its class and the attribute.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors.js';

export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'SeparableConv2D',
  'BatchNormalization',
  'Activation',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'Add',
  'Dropout',
  'Flatten',
  'Dense',
] as const;

/** Keras activations with the same definition in tfjs. */
const ACTIVATIONS: Record<string, string> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  softmax: 'softmax',
  elu: 'elu',
  selu: 'selu',
  softplus: 'softplus',
  softsign: 'softsign',
};

/** Attributes that only matter for training from scratch or bookkeeping (weights come from the file). */
const IGNORED = new Set([
  'name',
  'trainable',
  'dtype',
  'kernel_initializer',
  'bias_initializer',
  'depthwise_initializer',
  'pointwise_initializer',
  'beta_initializer',
  'gamma_initializer',
  'moving_mean_initializer',
  'moving_variance_initializer',
  'activity_regularizer',
  'bias_regularizer',
  'beta_regularizer',
  'gamma_regularizer',
  'kernel_constraint',
  'bias_constraint',
  'depthwise_constraint',
  'pointwise_constraint',
  'beta_constraint',
  'gamma_constraint',
  'seed',
  'momentum',
  'fused',
]);

export interface LayerSpec {
  className: string;
  name: string;
  config: Record<string, unknown>;
}

/** Reads a layer's config, remembering which keys were understood. */
class Cfg {
  private readonly seen = new Set<string>();
  constructor(readonly spec: LayerSpec) {}

  where(attr?: string): string {
    return `Keras layer "${this.spec.name}" (${this.spec.className})${attr ? ` attribute ${attr}` : ''}`;
  }

  fail(attr: string, value: unknown, why: string): never {
    throw new UserError(`${this.where(attr)}=${JSON.stringify(value)} is not supported: ${why}`);
  }

  has(key: string): boolean {
    return key in this.spec.config;
  }

  raw(key: string): unknown {
    this.seen.add(key);
    return this.spec.config[key];
  }

  /** Attribute that must equal `expected` (or be absent / null when `allowMissing`). */
  require(key: string, ok: (v: unknown) => boolean, why: string): void {
    const v = this.raw(key);
    if (v === undefined) return;
    if (!ok(v)) this.fail(key, v, why);
  }

  int(key: string, fallback?: number): number {
    const v = this.raw(key) ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) this.fail(key, v, 'expected a positive integer');
    return v;
  }

  num(key: string, fallback: number): number {
    const v = this.raw(key) ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, v, 'expected a number');
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key) ?? fallback;
    if (typeof v !== 'boolean') this.fail(key, v, 'expected true or false');
    return v;
  }

  pair(key: string, fallback?: [number, number]): [number, number] {
    let v = this.raw(key);
    if (v === undefined || v === null) v = fallback;
    if (typeof v === 'number') v = [v, v];
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 1)) this.fail(key, v, 'expected two positive integers');
    return v as [number, number];
  }

  padding(): 'same' | 'valid' {
    const v = this.raw('padding') ?? 'valid';
    if (v !== 'same' && v !== 'valid') this.fail('padding', v, 'only "same" and "valid" are supported');
    return v;
  }

  channelsLast(): void {
    this.require('data_format', (v) => v === null || v === 'channels_last', 'only channels_last is supported (re-save the model with channels_last)');
  }

  noDilation(): void {
    this.require('dilation_rate', (v) => (Array.isArray(v) ? v.every((x) => x === 1) : v === 1), 'dilated convolutions are not supported');
  }

  activation(key = 'activation'): string {
    const v = this.raw(key) ?? 'linear';
    const name = typeof v === 'string' ? v : undefined;
    if (name === undefined || !(name in ACTIVATIONS)) {
      this.fail(key, v, `supported activations: ${Object.keys(ACTIVATIONS).join(', ')}`);
    }
    return ACTIVATIONS[name];
  }

  regularizer(key: string): ReturnType<typeof tf.regularizers.l1l2> | undefined {
    const v = this.raw(key) as { class_name?: string; config?: { l1?: number; l2?: number } } | null | undefined;
    if (v === null || v === undefined) return undefined;
    const l1 = Number(v.config?.l1 ?? 0);
    const l2 = Number(v.config?.l2 ?? 0);
    if (!['L1L2', 'L1', 'L2'].includes(String(v.class_name)) || !Number.isFinite(l1) || !Number.isFinite(l2)) {
      this.fail(key, v, 'only L1/L2 regularizers are supported');
    }
    if (l1 === 0 && l2 === 0) return undefined;
    return tf.regularizers.l1l2({ l1, l2 });
  }

  /** After building: any attribute not read and not harmless is unsupported. */
  done(): void {
    for (const key of Object.keys(this.spec.config)) {
      if (this.seen.has(key) || IGNORED.has(key)) continue;
      this.fail(key, this.spec.config[key], 'unknown attribute for this layer class');
    }
  }
}

function mustBe(c: Cfg, key: string, allowed: unknown[], why: string): void {
  c.require(key, (v) => allowed.some((a) => JSON.stringify(a) === JSON.stringify(v)), why);
}

/** The options Conv2D and SeparableConv2D share (after checking channels_last and no dilation). */
function convOptions(c: Cfg, name: string) {
  return { name, filters: c.int('filters'), kernelSize: c.pair('kernel_size'), strides: c.pair('strides', [1, 1]), padding: c.padding() };
}

function conv2d(c: Cfg, name: string): tf.layers.Layer {
  c.channelsLast();
  c.noDilation();
  mustBe(c, 'groups', [1], 'grouped convolutions are not supported');
  return tf.layers.conv2d({
    ...convOptions(c, name),
    activation: c.activation() as never,
    useBias: c.bool('use_bias', true),
    kernelRegularizer: c.regularizer('kernel_regularizer'),
  });
}

function separableConv2d(c: Cfg, name: string): tf.layers.Layer {
  c.channelsLast();
  c.noDilation();
  const layer = tf.layers.separableConv2d({
    ...convOptions(c, name),
    // tfjs-layers 4.22 does not serialise depthMultiplier, so a saved model could not be reloaded.
    depthMultiplier: c.int('depth_multiplier', 1) === 1 ? 1 : c.fail('depth_multiplier', c.raw('depth_multiplier'), 'only 1 is supported'),
    activation: c.activation() as never,
    useBias: c.bool('use_bias', true),
    depthwiseRegularizer: c.regularizer('depthwise_regularizer'),
    pointwiseRegularizer: c.regularizer('pointwise_regularizer'),
  });
  // Keras 2.0 also accepts a kernel_regularizer on SeparableConv2D (applied to nothing): ignore it.
  c.raw('kernel_regularizer');
  return layer;
}

function batchNormalization(c: Cfg, name: string): tf.layers.Layer {
  const axis = c.raw('axis') ?? -1;
  const ax = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis;
  if (ax !== -1 && ax !== 3) c.fail('axis', axis, 'only the channel axis (-1 / 3, channels_last) is supported');
  mustBe(c, 'renorm', [false, null], 'batch renormalization is not supported');
  c.raw('renorm_clipping');
  c.raw('renorm_momentum');
  mustBe(c, 'virtual_batch_size', [null], 'virtual batches are not supported');
  mustBe(c, 'adjustment', [null], 'adjustment functions are not supported');
  mustBe(c, 'synchronized', [false], 'synchronized batch normalization is not supported');
  return tf.layers.batchNormalization({
    name,
    axis: -1,
    momentum: c.num('momentum', 0.99),
    epsilon: c.num('epsilon', 1e-3),
    center: c.bool('center', true),
    scale: c.bool('scale', true),
  });
}

function pooling2d(c: Cfg, name: string, className: string): tf.layers.Layer {
  c.channelsLast();
  const poolSize = c.pair('pool_size', [2, 2]);
  const opts = { name, poolSize, strides: c.pair('strides', poolSize), padding: c.padding() };
  return className === 'MaxPooling2D' ? tf.layers.maxPooling2d(opts) : tf.layers.averagePooling2d(opts);
}

function dropout(c: Cfg, name: string): tf.layers.Layer {
  mustBe(c, 'noise_shape', [null], 'a custom noise_shape is not supported');
  const rate = c.num('rate', 0.5);
  if (rate < 0 || rate >= 1) c.fail('rate', rate, 'expected a rate in [0, 1)');
  return tf.layers.dropout({ name, rate });
}

/** The builder of each supported Keras layer class: reads (and so validates) the config, makes the tfjs layer. */
const BUILDERS: Readonly<Record<string, (c: Cfg, name: string, className: string) => tf.layers.Layer>> = {
  Conv2D: conv2d,
  SeparableConv2D: separableConv2d,
  BatchNormalization: batchNormalization,
  Activation: (c, name) => tf.layers.activation({ name, activation: c.activation() as never }),
  MaxPooling2D: pooling2d,
  AveragePooling2D: pooling2d,
  GlobalAveragePooling2D: (c, name) => {
    c.channelsLast();
    mustBe(c, 'keepdims', [false], 'keepdims=true is not supported');
    return tf.layers.globalAveragePooling2d({ name });
  },
  Add: (_c, name) => tf.layers.add({ name }),
  Dropout: dropout,
  Flatten: (c, name) => {
    // Flattening a channels_last map gives the same order in Keras and tfjs.
    c.channelsLast();
    return tf.layers.flatten({ name });
  },
  Dense: (c, name) =>
    tf.layers.dense({
      name,
      units: c.int('units'),
      activation: c.activation() as never,
      useBias: c.bool('use_bias', true),
      kernelRegularizer: c.regularizer('kernel_regularizer'),
    }),
};

/** Create the tfjs layer for one Keras layer (InputLayer is handled by the graph builder). */
export function createLayer(spec: LayerSpec): tf.layers.Layer {
  const c = new Cfg(spec);
  const name = spec.name;
  if (spec.className === 'Model' || spec.className === 'Functional' || spec.className === 'Sequential') {
    throw new UserError(`Keras layer "${name}" is a nested ${spec.className}: nested models are not supported (flatten the model before saving)`);
  }
  const build = Object.hasOwn(BUILDERS, spec.className) ? BUILDERS[spec.className] : undefined;
  if (!build) throw new UserError(`Keras layer "${name}" has unsupported layer class ${spec.className}; supported: ${SUPPORTED_LAYERS.join(', ')}`);
  const layer = build(c, name, spec.className);
  c.done();
  // Frozen layers stay frozen for fine-tuning.
  if (spec.config.trainable === false) layer.trainable = false;
  return layer;
}

/** Validate an InputLayer config and return its batch shape [null, h, w, c]. */
export function inputShape(spec: LayerSpec): Array<number | null> {
  const c = new Cfg(spec);
  const shape = (c.raw('batch_input_shape') ?? c.raw('batch_shape')) as Array<number | null> | undefined;
  mustBe(c, 'sparse', [false, null], 'sparse inputs are not supported');
  mustBe(c, 'ragged', [false, null], 'ragged inputs are not supported');
  c.raw('input_dtype');
  if (!Array.isArray(shape)) return c.fail('batch_input_shape', shape, 'the input layer has no batch_input_shape');
  c.done();
  return shape;
}

const KNOWN_WEIGHTS = new Set(['kernel', 'bias', 'depthwise_kernel', 'pointwise_kernel', 'gamma', 'beta', 'moving_mean', 'moving_variance']);

function weightSuffix(name: string): string {
  const last = name.split('/').pop() ?? name;
  return last.replace(/:\d+$/, '');
}

/**
 * Set a built layer's weights from the file's arrays (Keras and tfjs store the same layouts for
 * these layer types, in the same order; names and shapes are checked).
 */
export function setLayerWeights(layer: tf.layers.Layer, className: string, arrays: Array<{ name: string; shape: number[]; data: Float32Array }>): number {
  const targets = layer.weights;
  const where = `Keras layer "${layer.name}" (${className})`;
  if (targets.length !== arrays.length) {
    throw new UserError(
      `${where} has ${arrays.length} weight arrays in the file (${arrays.map((a) => a.name).join(', ') || 'none'}) but the layer needs ${targets.length} (${targets.map((t) => weightSuffix(t.originalName)).join(', ') || 'none'})`,
    );
  }
  const tensors: tf.Tensor[] = [];
  let count = 0;
  try {
    targets.forEach((t, i) => {
      const a = arrays[i];
      const want = weightSuffix(t.originalName);
      const got = weightSuffix(a.name);
      if (KNOWN_WEIGHTS.has(got) && got !== want) {
        throw new UserError(`${where}: weight ${i} in the file is "${a.name}" but the layer expects ${want}`);
      }
      const shape = t.shape as number[];
      if (shape.length !== a.shape.length || shape.some((d, j) => d !== a.shape[j])) {
        throw new UserError(`${where}: weight "${a.name}" has shape [${a.shape.join(', ')}], the layer expects [${shape.join(', ')}]`);
      }
      for (const v of a.data) if (!Number.isFinite(v)) throw new UserError(`${where}: weight "${a.name}" contains NaN or infinite values`);
      tensors.push(tf.tensor(a.data, a.shape));
      count += a.data.length;
    });
    layer.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
  return count;
}
