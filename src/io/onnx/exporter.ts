/**
 * Export a tfjs-layers model (the framework's models) to ONNX.
 *
 * Layout: the graph takes the same NHWC float input as the tfjs model (dynamic batch) and transposes
 * once to NCHW, the layout ONNX convolution and pooling ops use; rank-4 outputs are transposed back.
 * Padding: TF 'same' padding is written as explicit pads (TF puts the odd pixel at the end), and
 * average pooling excludes padded cells from the count like TF (count_include_pad = 0).
 * Batch norm is folded into the convolution it directly follows when nothing else reads the
 * convolution's output; otherwise it becomes a BatchNormalization node.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors.js';
import type { ModelMeta } from '../model-store.js';
import { GraphBuilder, type AttrValue, type Initializer, type ValueInfo } from './graph-builder.js';
import { depthwiseToOIHW, foldInto, kernelToOIHW, pair, tfPads, type ConvRecord } from './layout.js';
import { encodeModel, IR_VERSION, MAX_OPSET, MIN_OPSET } from './schema.js';

/** A model the exporter cannot write (a layer, shape or option it lacks): reason 'export-unsupported'. */
function exportError(message: string): UserError {
  return new UserError(message, { reason: 'export-unsupported' });
}

export interface OnnxExportOptions {
  /** Operator set version, 13..17 (default 13). */
  opset?: number;
  /** Fold batch norm into the preceding convolution where possible (default true). */
  foldBatchNorm?: boolean;
  /** facecls metadata stored in the ONNX metadata_props (key "facecls"). */
  meta?: ModelMeta;
  /** Extra metadata_props entries (e.g. the source fingerprint). */
  metadata?: Record<string, string>;
  producerVersion?: string;
  docString?: string;
}

export { tfPads } from './layout.js';

export const ONNX_META_KEY = 'facecls';

/** Layer classes the exporter understands (Keras names as tfjs reports them). */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'SeparableConv2D',
  'DepthwiseConv2D',
  'Dense',
  'BatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'Softmax',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'ZeroPadding2D',
  'Add',
  'Multiply',
  'Maximum',
  'Average',
  'Concatenate',
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'Flatten',
] as const;

/** Layers that are the identity at inference time. */
const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

type Shape = Array<number | null>;

/** What the ONNX graph holds for one Keras symbolic tensor. */
interface TensorInfo {
  name: string;
  /** Keras (NHWC) shape including the batch dimension. Rank-4 values are NCHW in the ONNX graph. */
  shape: Shape;
  /** Set when this value is a convolution's output that batch norm may fold into. */
  foldable?: ConvRecord;
}

interface KerasNode {
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
}

type LayerConfig = Record<string, unknown>;

/** One call of a layer being exported: its config, ONNX base name, first input and that input's rank. */
interface LayerCall {
  layer: tf.layers.Layer;
  cls: string;
  cfg: LayerConfig;
  base: string;
  ins: tf.SymbolicTensor[];
  x: TensorInfo;
  rank: number;
}

class Exporter {
  readonly g = new GraphBuilder();
  private readonly tensors = new Map<number, TensorInfo>();
  private readonly consumers = new Map<number, number>();
  private readonly outputIds: Set<number>;
  private readonly fold: boolean;

  constructor(
    private readonly model: tf.LayersModel,
    opts: OnnxExportOptions,
  ) {
    this.fold = opts.foldBatchNorm ?? true;
    this.outputIds = new Set(model.outputs.map((t) => t.id));
  }

  private kerasNodes(layer: tf.layers.Layer): KerasNode[] {
    return (layer as unknown as { inboundNodes: KerasNode[] }).inboundNodes ?? [];
  }

  private weights(layer: tf.layers.Layer): Float32Array[] {
    // getWeights() returns the variables' own tensors: copy, never dispose.
    return layer.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array));
  }

  private info(t: tf.SymbolicTensor, layer: tf.layers.Layer): TensorInfo {
    const info = this.tensors.get(t.id);
    if (!info) throw new Error(`internal error: input "${t.name}" of layer "${layer.name}" is not computed yet`);
    return info;
  }

  /** Whether a value may be rewritten in place (folded): read by exactly one layer and not a model output. */
  private private1(t: tf.SymbolicTensor): boolean {
    return (this.consumers.get(t.id) ?? 0) === 1 && !this.outputIds.has(t.id);
  }

  run(): { inputs: ValueInfo[]; outputs: ValueInfo[] } {
    const model = this.model;
    const modelLayers = new Set(model.layers);
    for (const layer of model.layers) {
      for (const node of this.kerasNodes(layer)) for (const t of node.inputTensors) this.consumers.set(t.id, (this.consumers.get(t.id) ?? 0) + 1);
    }
    // Stable I/O names for users of the .onnx file: "image" in, "probabilities" (or "output") out.
    const single = (ts: tf.SymbolicTensor[], fallback: (t: tf.SymbolicTensor) => string) =>
      ts.map((t) => this.g.uniqueName(ts.length === 1 ? fallback(t) : t.name.replace(/:\d+$/, '').replace(/\/.*$/, '')));
    const inNames = single(model.inputs, (t) => (t.shape.length === 4 ? 'image' : 'input'));
    const outNames = single(model.outputs, (t) => {
      const layer = t.sourceLayer as tf.layers.Layer;
      const cfg = layer.getConfig();
      return layer.getClassName() === 'Softmax' || cfg.activation === 'softmax' ? 'probabilities' : 'output';
    });
    const inputs: ValueInfo[] = [];
    for (const [k, t] of model.inputs.entries()) {
      const shape = t.shape as Shape;
      const name = inNames[k];
      const vi: ValueInfo = { name, shape: ['batch', ...shape.slice(1).map((d, i) => d ?? `dim${i + 1}`)] };
      inputs.push(vi);
      if (shape.length === 4) {
        const [, h, w, c] = shape;
        // One channel: NHWC and NCHW hold the same bytes, so a Reshape (no copy) replaces the Transpose.
        const tr =
          c === 1 && typeof h === 'number' && typeof w === 'number'
            ? this.g.addNode(
                'Reshape',
                [name, this.g.addInitializer(`${name}_nchw_shape`, [4], BigInt64Array.from([-1n, 1n, BigInt(h), BigInt(w)])).name],
                `${name}_nchw`,
              )
            : this.g.addNode('Transpose', [name], `${name}_nchw`, { perm: [0, 3, 1, 2] });
        this.tensors.set(t.id, { name: tr.outputs[0], shape });
      } else if (shape.length === 2) {
        this.tensors.set(t.id, { name, shape });
      } else {
        throw exportError(
          `cannot export model input "${t.name}" of shape [${shape}] to ONNX: only images [batch, height, width, channels] and vectors are supported`,
        );
      }
    }
    for (const layer of model.layers) {
      if (!modelLayers.has(layer)) continue;
      const cls = layer.getClassName();
      if (cls === 'InputLayer') continue;
      if (!(SUPPORTED_LAYERS as readonly string[]).includes(cls)) {
        throw exportError(`cannot export layer "${layer.name}" (${cls}) to ONNX: unsupported layer type. Supported: ${SUPPORTED_LAYERS.join(', ')}`);
      }
      for (const node of this.kerasNodes(layer)) {
        // A layer shared with another model has nodes outside this graph: skip those.
        if (!node.inputTensors.every((t) => this.tensors.has(t.id))) continue;
        const out = node.outputTensors;
        if (out.length !== 1) throw exportError(`cannot export layer "${layer.name}" (${cls}): layers with ${out.length} outputs are not supported`);
        const info = this.layer(layer, cls, node.inputTensors);
        this.tensors.set(out[0].id, { ...info, shape: out[0].shape as Shape });
      }
    }
    const outputs: ValueInfo[] = [];
    for (const [k, t] of model.outputs.entries()) {
      const info = this.tensors.get(t.id);
      if (!info) throw exportError(`cannot export model output "${t.name}": it is not computed from the model inputs`);
      const shape = t.shape as Shape;
      const name = outNames[k];
      this.g.nodes.push({
        opType: shape.length === 4 ? 'Transpose' : 'Identity',
        name: this.g.uniqueName(`${name}/output`),
        inputs: [info.name],
        outputs: [name],
        attrs: shape.length === 4 ? { perm: [0, 2, 3, 1] } : {},
      });
      outputs.push({ name, shape: ['batch', ...shape.slice(1).map((d, i) => d ?? `out_dim${i + 1}`)] });
    }
    return { inputs, outputs };
  }

  /** Emit the ONNX nodes for one call of a layer; returns the ONNX value of its output. */
  private layer(layer: tf.layers.Layer, cls: string, ins: tf.SymbolicTensor[]): Omit<TensorInfo, 'shape'> {
    const x = this.info(ins[0], layer);
    const c: LayerCall = { layer, cls, ins, x, cfg: layer.getConfig() as LayerConfig, base: layer.name, rank: x.shape.length };
    const { cfg, base, rank } = c;
    if (IDENTITY_LAYERS.has(cls)) return { name: x.name, foldable: this.private1(ins[0]) ? x.foldable : undefined };
    switch (cls) {
      case 'Conv2D':
      case 'SeparableConv2D':
      case 'DepthwiseConv2D':
        return this.conv(c);
      case 'Dense':
        return this.dense(c);
      case 'BatchNormalization':
        return { name: this.batchNorm(layer, cfg, x, ins[0]) };
      case 'Activation':
        return { name: this.activation(x.name, String(cfg.activation), rank, base, cls) };
      case 'ReLU': {
        const max = cfg.maxValue as number | null | undefined;
        if (max === null || max === undefined) return { name: this.g.addNode('Relu', [x.name], base).outputs[0] };
        return { name: this.clip(x.name, max, base) };
      }
      case 'LeakyReLU':
        return { name: this.g.addNode('LeakyRelu', [x.name], base, { alpha: { float: Number(cfg.alpha ?? 0.3) } }).outputs[0] };
      case 'Softmax': {
        const axis = Number(cfg.axis ?? -1);
        if (axis !== -1 && axis !== rank - 1) throw exportError(`cannot export layer "${base}" (Softmax): only softmax over the last axis is supported`);
        return { name: this.activation(x.name, 'softmax', rank, base, cls) };
      }
      case 'Flatten':
        return { name: this.flatten(c) };
    }
    return { name: this.imageOp(c) ?? this.merge(c) };
  }

  /** Refuse a layer whose input is not a channels-last image. */
  private need4({ x, cfg, base, cls, rank }: LayerCall): void {
    if (rank !== 4) throw exportError(`cannot export layer "${base}" (${cls}): expected a rank-4 image input, got shape [${x.shape}]`);
    if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') {
      throw exportError(`cannot export layer "${base}" (${cls}): only channelsLast data format is supported`);
    }
  }

  /** ONNX padding attributes of a windowed op (explicit pads where the input size is known). */
  private padAttrs(
    { x, base, cls }: LayerCall,
    padding: string,
    kernel: [number, number],
    strides: [number, number],
    dilation: [number, number] = [1, 1],
  ): Record<string, AttrValue> {
    if (padding !== 'same' && padding !== 'valid') throw exportError(`cannot export layer "${base}" (${cls}): padding "${padding}" is not supported`);
    const size: [number, number] | undefined = typeof x.shape[1] === 'number' && typeof x.shape[2] === 'number' ? [x.shape[1], x.shape[2]] : undefined;
    // Unknown spatial size: SAME_UPPER is TF's rule (extra padding at the end).
    if (!size) return padding === 'same' ? { auto_pad: 'SAME_UPPER' } : {};
    return { pads: tfPads(padding, size, kernel, strides, dilation) };
  }

  /** min(max(x, 0), max) as a Clip node. */
  private clip(input: string, max: number, base: string): string {
    const lo = this.g.addInitializer(`${base}/min`, [], Float32Array.of(0));
    const hi = this.g.addInitializer(`${base}/max`, [], Float32Array.of(max));
    return this.g.addNode('Clip', [input, lo.name, hi.name], base).outputs[0];
  }

  /** Conv2D, DepthwiseConv2D, SeparableConv2D (depthwise then pointwise); foldable when linear. */
  private conv(c: LayerCall): Omit<TensorInfo, 'shape'> {
    const { layer, cls, cfg, base, x } = c;
    this.need4(c);
    const kernel = pair(cfg.kernelSize, 'kernelSize');
    const strides = pair(cfg.strides ?? 1, 'strides');
    const dilation = pair(cfg.dilationRate ?? 1, 'dilationRate');
    const inC = Number(x.shape[3]);
    const ws = this.weights(layer);
    const useBias = cfg.useBias !== false;
    const [kh, kw] = kernel;
    const convAttrs = { kernel_shape: kernel, strides, dilations: dilation, ...this.padAttrs(c, String(cfg.padding), kernel, strides, dilation) };
    const convNode = (
      input: string,
      weight: Initializer,
      outChannels: number,
      biasData: Float32Array,
      name: string,
      attrs: Record<string, AttrValue>,
    ): ConvRecord => {
      const bias = useBias ? this.g.addInitializer(`${base}/bias`, [outChannels], biasData) : undefined;
      const node = this.g.addNode('Conv', bias ? [input, weight.name, bias.name] : [input, weight.name], name, attrs);
      return { node, weight, bias, outChannels, baseName: base };
    };
    let rec: ConvRecord;
    if (cls === 'Conv2D') {
      const outC = Number(cfg.filters);
      rec = convNode(
        x.name,
        this.g.addInitializer(`${base}/kernel`, [outC, inC, kh, kw], kernelToOIHW(ws[0], kh, kw, inC, outC)),
        outC,
        ws[1],
        base,
        convAttrs,
      );
    } else {
      // From the kernel's size: tfjs leaves depthMultiplier out of SeparableConv2D's config.
      const mult = ws[0].length / (kh * kw * inC);
      const dw = this.g.addInitializer(`${base}/depthwise_kernel`, [inC * mult, 1, kh, kw], depthwiseToOIHW(ws[0], kh, kw, inC, mult));
      if (cls === 'DepthwiseConv2D') {
        rec = convNode(x.name, dw, inC * mult, ws[1], base, { ...convAttrs, group: inC });
      } else {
        const outC = Number(cfg.filters);
        const d = this.g.addNode('Conv', [x.name, dw.name], `${base}/depthwise`, { ...convAttrs, group: inC });
        const pw = this.g.addInitializer(`${base}/pointwise_kernel`, [outC, inC * mult, 1, 1], kernelToOIHW(ws[1], 1, 1, inC * mult, outC));
        rec = convNode(d.outputs[0], pw, outC, ws[2], base, { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] });
      }
    }
    const act = String(cfg.activation ?? 'linear');
    if (act === 'linear') return { name: rec.node.outputs[0], foldable: rec };
    return { name: this.activation(rec.node.outputs[0], act, 4, base, cls) };
  }

  private dense({ layer, cls, cfg, base, x, rank }: LayerCall): Omit<TensorInfo, 'shape'> {
    if (rank !== 2)
      throw exportError(`cannot export layer "${base}" (Dense): only Dense on flat [batch, features] inputs is supported, got shape [${x.shape}]`);
    const ws = this.weights(layer);
    const units = Number(cfg.units);
    const inF = Number(x.shape[1]);
    const w = this.g.addInitializer(`${base}/kernel`, [inF, units], ws[0]);
    const b = cfg.useBias !== false ? this.g.addInitializer(`${base}/bias`, [units], ws[1]) : undefined;
    const node = this.g.addNode('Gemm', b ? [x.name, w.name, b.name] : [x.name, w.name], base);
    return { name: this.activation(node.outputs[0], String(cfg.activation ?? 'linear'), 2, base, cls) };
  }

  /** Pooling (windowed and global) and zero padding; undefined for any other layer. */
  private imageOp(c: LayerCall): string | undefined {
    const { cls, cfg, base, x } = c;
    if (cls === 'MaxPooling2D' || cls === 'AveragePooling2D') {
      this.need4(c);
      const kernel = pair(cfg.poolSize, 'poolSize');
      const strides = pair(cfg.strides ?? cfg.poolSize, 'strides');
      const attrs = { kernel_shape: kernel, strides, ...this.padAttrs(c, String(cfg.padding), kernel, strides) };
      if (cls === 'MaxPooling2D') return this.g.addNode('MaxPool', [x.name], base, attrs).outputs[0];
      return this.g.addNode('AveragePool', [x.name], base, { ...attrs, count_include_pad: 0 }).outputs[0];
    }
    if (cls === 'GlobalAveragePooling2D' || cls === 'GlobalMaxPooling2D') {
      this.need4(c);
      const op = cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool';
      const pooled = this.g.addNode(op, [x.name], `${base}/pool`);
      return this.g.addNode('Flatten', [pooled.outputs[0]], base, { axis: 1 }).outputs[0];
    }
    if (cls === 'ZeroPadding2D') {
      this.need4(c);
      const p = cfg.padding as [[number, number], [number, number]];
      const pads = this.g.addInitializer(`${base}/pads`, [8], BigInt64Array.from([0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]].map(BigInt)));
      return this.g.addNode('Pad', [x.name, pads.name], base, { mode: 'constant' }).outputs[0];
    }
    return undefined;
  }

  /** Layers of several inputs: Add, Multiply, Maximum, Average, Concatenate. */
  private merge({ layer, cls, cfg, base, ins, rank }: LayerCall): string {
    const names = ins.map((t) => this.info(t, layer).name);
    switch (cls) {
      case 'Average':
        return this.g.addNode('Mean', names, base).outputs[0];
      case 'Concatenate': {
        let axis = Number(cfg.axis ?? -1);
        if (axis < 0) axis += rank;
        if (rank === 4) axis = [0, 2, 3, 1][axis];
        return this.g.addNode('Concat', names, base, { axis }).outputs[0];
      }
      case 'Add':
      case 'Multiply':
      case 'Maximum': {
        const op = cls === 'Add' ? (names.length === 2 ? 'Add' : 'Sum') : cls === 'Multiply' ? 'Mul' : 'Max';
        if (op === 'Mul' && names.length !== 2) {
          let acc = names[0];
          for (let i = 1; i < names.length; i++) acc = this.g.addNode('Mul', [acc, names[i]], i === names.length - 1 ? base : `${base}/${i}`).outputs[0];
          return acc;
        }
        return this.g.addNode(op, names, base).outputs[0];
      }
    }
    throw new Error(`internal error: no export rule for ${cls}`);
  }

  private flatten({ base, x, rank }: LayerCall): string {
    if (rank === 2) return x.name;
    if (rank !== 4) throw exportError(`cannot export layer "${base}" (Flatten): input of shape [${x.shape}] is not supported`);
    // Keras flattens in NHWC order; a 1x1 map is the same in either layout.
    let src = x.name;
    if (!(x.shape[1] === 1 && x.shape[2] === 1)) src = this.g.addNode('Transpose', [src], `${base}/nhwc`, { perm: [0, 2, 3, 1] }).outputs[0];
    return this.g.addNode('Flatten', [src], base, { axis: 1 }).outputs[0];
  }

  private activation(input: string, act: string, rank: number, base: string, cls: string): string {
    switch (act) {
      case 'linear':
        return input;
      case 'relu':
        return this.g.addNode('Relu', [input], base).outputs[0];
      case 'softmax':
        // Keras softmax runs over the last (channel) axis, which is axis 1 in NCHW.
        return this.g.addNode('Softmax', [input], base, { axis: rank === 4 ? 1 : rank - 1 }).outputs[0];
      case 'sigmoid':
        return this.g.addNode('Sigmoid', [input], base).outputs[0];
      case 'tanh':
        return this.g.addNode('Tanh', [input], base).outputs[0];
      case 'elu':
        return this.g.addNode('Elu', [input], base, { alpha: { float: 1 } }).outputs[0];
      case 'selu':
        return this.g.addNode('Selu', [input], base).outputs[0];
      case 'softplus':
        return this.g.addNode('Softplus', [input], base).outputs[0];
      case 'softsign':
        return this.g.addNode('Softsign', [input], base).outputs[0];
      case 'hardSigmoid':
        return this.g.addNode('HardSigmoid', [input], base, { alpha: { float: 0.2 }, beta: { float: 0.5 } }).outputs[0];
      case 'relu6':
        return this.clip(input, 6, base);
      default:
        throw exportError(`cannot export layer "${base}" (${cls}) to ONNX: unsupported activation "${act}"`);
    }
  }

  private batchNorm(layer: tf.layers.Layer, cfg: LayerConfig, x: TensorInfo, inT: tf.SymbolicTensor): string {
    const base = layer.name;
    const rank = x.shape.length;
    let axis = Number(cfg.axis ?? -1);
    if (axis < 0) axis += rank;
    if (axis !== rank - 1 || (rank !== 4 && rank !== 2)) {
      throw exportError(
        `cannot export layer "${base}" (BatchNormalization): only normalisation over the channel (last) axis of images or vectors is supported`,
      );
    }
    const channels = Number(x.shape[rank - 1]);
    const ws = this.weights(layer);
    let i = 0;
    const gamma = cfg.scale !== false ? ws[i++] : new Float32Array(channels).fill(1);
    const beta = cfg.center !== false ? ws[i++] : new Float32Array(channels);
    const mean = ws[i++];
    const variance = ws[i];
    const eps = Number(cfg.epsilon ?? 1e-3);
    const rec = x.foldable;
    if (this.fold && rec && this.private1(inT) && rec.outChannels === channels) {
      foldInto(rec, gamma, beta, mean, variance, eps, this.g);
      return x.name;
    }
    const inits = [
      this.g.addInitializer(`${base}/gamma`, [channels], gamma),
      this.g.addInitializer(`${base}/beta`, [channels], beta),
      this.g.addInitializer(`${base}/moving_mean`, [channels], mean),
      this.g.addInitializer(`${base}/moving_variance`, [channels], variance),
    ];
    return this.g.addNode('BatchNormalization', [x.name, ...inits.map((t) => t.name)], base, { epsilon: { float: eps } }).outputs[0];
  }
}

/** Build the ONNX graph for a tfjs-layers model and serialise it as a ModelProto. */
export function exportToOnnx(model: tf.LayersModel, opts: OnnxExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new UserError(`ONNX opset must be an integer in [${MIN_OPSET}, ${MAX_OPSET}], got ${opts.opset}`);
  }
  const ex = new Exporter(model, opts);
  const { inputs, outputs } = ex.run();
  const metadata: Record<string, string> = { ...(opts.metadata ?? {}) };
  if (opts.meta) metadata[ONNX_META_KEY] = JSON.stringify(opts.meta);
  return encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'facecls',
    producerVersion: opts.producerVersion ?? '0.1.0',
    docString: opts.docString ?? `${model.name} exported from tfjs-layers by facecls`,
    graph: ex.g.toProto(model.name || 'model', inputs, outputs),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
}
