/**
 * The paper's architectures (as its code defines them), each parameterised by input size,
 * channels and number of classes. All are fully convolutional and end in a softmax.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';
import { avgPool, batchNorm, classificationHead, conv, convBnRelu, dropout, input, relu, xceptionModule, type Sym } from './blocks.js';

export interface BuildOptions {
  inputSize: number;
  channels?: number;
  numClasses: number;
  /** L2 factor on conv kernels where the paper's code puts one (default 0.01 for the Xceptions). */
  l2?: number;
  /** Dropout rate for the sequential CNNs (paper: 0.5 for simple-cnn, 0.25 for simpler-cnn). */
  dropout?: number;
}

export interface Architecture {
  name: string;
  description: string;
  /** Smallest square input the network accepts (valid convolutions shrink the map). */
  minInput: number;
  /** Largest square input, when the design requires one (simpler-cnn flattens a 1x1 map). */
  maxInput?: number;
  build(opts: Required<Pick<BuildOptions, 'inputSize' | 'channels' | 'numClasses'>> & BuildOptions): tf.LayersModel;
}

function simpleCnn(o: BuildOptions & { channels: number }): tf.LayersModel {
  const rate = o.dropout ?? 0.5;
  const inp = input(o.inputSize, o.channels);
  let x: Sym = inp;
  const stages: Array<[number, number]> = [
    [16, 7],
    [32, 5],
    [64, 3],
    [128, 3],
  ];
  for (const [filters, k] of stages) {
    x = batchNorm(conv(x, filters, { kernel: k }));
    x = relu(batchNorm(conv(x, filters, { kernel: k })));
    x = dropout(avgPool(x, 2), rate);
  }
  x = batchNorm(conv(x, 256, { kernel: 3 }));
  x = conv(x, o.numClasses, { kernel: 3 });
  x = tf.layers.globalAveragePooling2d({}).apply(x) as Sym;
  const out = tf.layers.activation({ activation: 'softmax', name: 'predictions' }).apply(x) as Sym;
  return tf.model({ inputs: inp, outputs: out, name: 'simple-cnn' });
}

function simplerCnn(o: BuildOptions & { channels: number }): tf.LayersModel {
  const rate = o.dropout ?? 0.25;
  const inp = input(o.inputSize, o.channels);
  let x: Sym = inp;
  const stages: Array<[number, number, number, number]> = [
    // [filters a, kernel a, filters b, kernel b]; b has stride 2
    [16, 5, 16, 5],
    [32, 5, 32, 5],
    [64, 3, 64, 3],
    [64, 1, 128, 3],
  ];
  for (const [fa, ka, fb, kb] of stages) {
    x = batchNorm(conv(x, fa, { kernel: ka }));
    x = relu(batchNorm(conv(x, fb, { kernel: kb, strides: 2 })));
    x = dropout(x, rate);
  }
  x = batchNorm(conv(x, 256, { kernel: 1 }));
  x = conv(x, 128, { kernel: 3, strides: 2 });
  x = batchNorm(conv(x, 256, { kernel: 1 }));
  x = conv(x, o.numClasses, { kernel: 3, strides: 2 });
  x = tf.layers.flatten({}).apply(x) as Sym;
  const out = tf.layers.activation({ activation: 'softmax', name: 'predictions' }).apply(x) as Sym;
  return tf.model({ inputs: inp, outputs: out, name: 'simpler-cnn' });
}

function xception(name: string, stemFilters: number, moduleFilters: number[], o: BuildOptions & { channels: number }, stemStride = 1): tf.LayersModel {
  const l2 = o.l2 ?? 0.01;
  const inp = input(o.inputSize, o.channels);
  let x = convBnRelu(inp, stemFilters, { kernel: 3, strides: stemStride, padding: 'valid', l2 });
  x = convBnRelu(x, stemFilters, { kernel: 3, padding: 'valid', l2 });
  for (const f of moduleFilters) x = xceptionModule(x, f, { l2 });
  const out = classificationHead(x, o.numClasses);
  return tf.model({ inputs: inp, outputs: out, name });
}

function bigXception(o: BuildOptions & { channels: number }): tf.LayersModel {
  const l2 = o.l2 ?? 0;
  const inp = input(o.inputSize, o.channels);
  let x = convBnRelu(inp, 32, { kernel: 3, strides: 2, padding: 'valid', l2 });
  x = convBnRelu(x, 64, { kernel: 3, padding: 'valid', l2 });
  x = xceptionModule(x, 128, { l2 });
  x = xceptionModule(x, 256, { l2, preActivation: true });
  const out = classificationHead(x, o.numClasses);
  return tf.model({ inputs: inp, outputs: out, name: 'big-xception' });
}

export const ZOO: readonly Architecture[] = [
  {
    name: 'simple-cnn',
    description: "Paper's sequential fully-CNN: 10 convs with BN, ReLU, average pooling, dropout (~640k params)",
    minInput: 1,
    build: (o) => simpleCnn(o),
  },
  {
    name: 'simpler-cnn',
    description: 'Strided sequential fully-CNN, no pooling layers; flattens a 1x1 map (input <= 64)',
    minInput: 1,
    maxInput: 64,
    build: (o) => simplerCnn(o),
  },
  {
    name: 'tiny-xception',
    description: 'Xception with 5-filter stem and residual separable modules of 8/16/32/64 filters',
    minInput: 5,
    build: (o) => xception('tiny-xception', 5, [8, 16, 32, 64], o),
  },
  {
    name: 'mini-xception',
    description: "The paper's real-time model: 8-filter stem, modules of 16/32/64/128 filters (58k params)",
    minInput: 5,
    build: (o) => xception('mini-xception', 8, [16, 32, 64, 128], o),
  },
  {
    // The first convolution learns the downsampling, so a 64-96 pixel face costs what a 32-48
    // pixel one costs in mini-xception: more detail for the same real-time budget.
    name: 'mini-xception-s2',
    description: 'mini-Xception with a stride-2 first convolution: a 2x input at the cost of mini-xception at 1x (58k params)',
    minInput: 7,
    build: (o) => xception('mini-xception-s2', 8, [16, 32, 64, 128], o, 2),
  },
  {
    name: 'big-xception',
    description: 'Larger Xception: strided 32/64 stem, modules of 128/256 filters (~210k params)',
    minInput: 7,
    build: (o) => bigXception(o),
  },
];

export const ARCH_NAMES = ZOO.map((a) => a.name);

export function getArchitecture(name: string): Architecture {
  const arch = ZOO.find((a) => a.name === name);
  if (!arch) throw new UserError(`unknown architecture "${name}": choose one of ${ARCH_NAMES.join(', ')}`);
  return arch;
}

/** Build a zoo model, validating the requested shape first. */
export function buildModel(name: string, opts: BuildOptions): tf.LayersModel {
  const arch = getArchitecture(name);
  const channels = opts.channels ?? 1;
  const { inputSize, numClasses } = opts;
  if (!Number.isInteger(inputSize) || inputSize < 1) throw new UserError(`input size must be a positive integer, got ${inputSize}`);
  if (!Number.isInteger(channels) || channels < 1) throw new UserError(`channels must be a positive integer, got ${channels}`);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new UserError(`number of classes must be an integer >= 2, got ${numClasses}`);
  if (inputSize < arch.minInput) {
    throw new UserError(`input ${inputSize}x${inputSize} is smaller than ${name}'s receptive field: the smallest input it accepts is ${arch.minInput}`);
  }
  if (arch.maxInput !== undefined && inputSize > arch.maxInput) {
    throw new UserError(`input ${inputSize}x${inputSize} is too large for ${name}: it flattens a 1x1 map, so inputs above ${arch.maxInput} are not supported`);
  }
  return arch.build({ ...opts, channels, inputSize, numClasses });
}
