/**
 * Converts a small tfjs graph model (NHWC convolutional nets such as BlazeFace: Conv2D with fused
 * bias/ReLU, depthwise conv, add, ReLU, max-pool, pad, reshape) into ONNX, in memory, so onnxruntime
 * can run the detector. Activations are kept NCHW inside; the input is transposed once and each
 * Reshape gets its NHWC layout back first, so outputs equal the tfjs graph's.
 */
import * as tf from '@tensorflow/tfjs';
import { GraphBuilder, type AttrValue } from '../io/onnx/graph-builder.js';
import { encodeModel, IR_VERSION } from '../io/onnx/schema.js';

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; list?: { i?: string[]; s?: string[] }; i?: string; b?: boolean }>;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

function attrString(n: TfNode, key: string): string | undefined {
  const s = n.attr?.[key]?.s;
  return s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');
}

function attrInts(n: TfNode, key: string): number[] {
  return (n.attr?.[key]?.list?.i ?? []).map(Number);
}

function padAttrs(n: TfNode): Record<string, AttrValue> {
  const p = attrString(n, 'padding') ?? 'VALID';
  if (p === 'SAME') return { auto_pad: 'SAME_UPPER' };
  if (p === 'VALID') return { auto_pad: 'VALID' };
  throw new Error(`graph node ${n.name}: unsupported padding ${p}`);
}

/** Strip ":0" output suffixes and "^" control inputs. */
function ref(name: string): string {
  return name.replace(/^\^/, '').replace(/:0$/, '');
}

export interface GraphToOnnxResult {
  bytes: Uint8Array;
  input: string;
  outputs: string[];
}

/** Emits the ONNX nodes of a tfjs graph, depth first from the requested outputs, each node once. */
class GraphConverter {
  readonly g = new GraphBuilder();
  readonly inputName: string;
  private readonly nodes: Map<string, TfNode>;
  private readonly value = new Map<string, string>(); // tf node name -> onnx value name
  private readonly visiting = new Set<string>();

  constructor(
    topology: { node: TfNode[] },
    private readonly weights: tf.NamedTensorMap,
  ) {
    this.nodes = new Map(topology.node.map((n) => [n.name, n]));
    const placeholder = topology.node.find((n) => n.op === 'Placeholder');
    if (!placeholder) throw new Error('graph has no input');
    this.inputName = this.g.uniqueName(placeholder.name);
  }

  private constOf(name: string): tf.Tensor {
    const t = this.weights[ref(name)];
    if (!t) throw new Error(`graph constant ${name} has no weights`);
    return t;
  }

  private floatInit(base: string, dims: number[], data: Float32Array): string {
    return this.g.addInitializer(base, dims, data).name;
  }

  private int64Init(base: string, data: number[]): string {
    return this.g.addInitializer(base, [data.length], BigInt64Array.from(data.map(BigInt))).name;
  }

  /** The ONNX value of a tf node's output, emitting the node (and what it reads) the first time. */
  emit(name: string): string {
    const key = ref(name);
    const done = this.value.get(key);
    if (done) return done;
    const n = this.nodes.get(key);
    if (!n) throw new Error(`graph references unknown node ${key}`);
    if (this.visiting.has(key)) throw new Error(`graph has a cycle at ${key}`);
    this.visiting.add(key);
    const out = this.emitNode(
      key,
      n,
      (n.input ?? []).filter((i) => !i.startsWith('^')),
    );
    this.visiting.delete(key);
    this.value.set(key, out);
    return out;
  }

  private emitNode(key: string, n: TfNode, inputs: string[]): string {
    const g = this.g;
    switch (n.op) {
      case 'Placeholder':
        return g.addNode('Transpose', [this.inputName], `${key}/nchw`, { perm: NHWC_TO_NCHW }).outputs[0];
      case 'Identity':
        return this.emit(inputs[0]);
      case '_FusedConv2D':
      case 'Conv2D':
        return this.conv(key, n, inputs);
      case 'DepthwiseConv2dNative':
        return this.depthwise(key, n, inputs);
      case 'AddV2':
      case 'Add':
        return g.addNode('Add', [this.emit(inputs[0]), this.emit(inputs[1])], key).outputs[0];
      case 'Relu':
        return g.addNode('Relu', [this.emit(inputs[0])], key).outputs[0];
      case 'MaxPool': {
        const ks = attrInts(n, 'ksize');
        const st = attrInts(n, 'strides');
        return g.addNode('MaxPool', [this.emit(inputs[0])], key, { kernel_shape: [ks[1], ks[2]], strides: [st[1], st[2]], ...padAttrs(n) }).outputs[0];
      }
      case 'Pad': {
        const p = Array.from(this.constOf(inputs[1]).dataSync()); // NHWC [[b, e] x 4]
        const begin = NHWC_TO_NCHW.map((d) => p[2 * d]);
        const end = NHWC_TO_NCHW.map((d) => p[2 * d + 1]);
        return g.addNode('Pad', [this.emit(inputs[0]), this.int64Init(`${key}/pads`, [...begin, ...end])], key, { mode: 'constant' }).outputs[0];
      }
      case 'Reshape': {
        const nhwc = g.addNode('Transpose', [this.emit(inputs[0])], `${key}/nhwc`, { perm: NCHW_TO_NHWC }).outputs[0];
        const shape = Array.from(this.constOf(inputs[1]).dataSync());
        return g.addNode('Reshape', [nhwc, this.int64Init(`${key}/shape`, shape)], key).outputs[0];
      }
      default:
        throw new Error(`graph node ${key}: unsupported op ${n.op}`);
    }
  }

  /** Conv2D, with the bias and ReLU a _FusedConv2D carries. */
  private conv(key: string, n: TfNode, inputs: string[]): string {
    const x = this.emit(inputs[0]);
    const k = this.constOf(inputs[1]); // HWIO
    const [kh, kw, ci, co] = k.shape;
    const w = tf.tidy(() => tf.transpose(k, [3, 2, 0, 1]).dataSync() as Float32Array);
    const ins = [x, this.floatInit(`${key}/W`, [co, ci, kh, kw], Float32Array.from(w))];
    const fused = (n.attr?.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
    if (fused.includes('BiasAdd')) ins.push(this.floatInit(`${key}/B`, [co], Float32Array.from(this.constOf(inputs[2]).dataSync())));
    let out = this.g.addNode('Conv', ins, key, { kernel_shape: [kh, kw], ...convGeometry(n) }).outputs[0];
    for (const op of fused) {
      if (op === 'BiasAdd') continue;
      if (op !== 'Relu') throw new Error(`graph node ${key}: unsupported fused op ${op}`);
      out = this.g.addNode('Relu', [out], `${key}/relu`).outputs[0];
    }
    return out;
  }

  private depthwise(key: string, n: TfNode, inputs: string[]): string {
    const x = this.emit(inputs[0]);
    const k = this.constOf(inputs[1]); // H, W, C, multiplier
    const [kh, kw, c, m] = k.shape;
    const w = tf.tidy(() => tf.transpose(k, [2, 3, 0, 1]).dataSync() as Float32Array); // C, M, H, W = (C*M), 1, H, W
    const weight = this.floatInit(`${key}/W`, [c * m, 1, kh, kw], Float32Array.from(w));
    return this.g.addNode('Conv', [x, weight], key, { group: c, kernel_shape: [kh, kw], ...convGeometry(n) }).outputs[0];
  }
}

/** Strides, dilations and padding of a tf convolution node as ONNX Conv attributes. */
function convGeometry(n: TfNode): Record<string, AttrValue> {
  const strides = attrInts(n, 'strides');
  const dil = attrInts(n, 'dilations');
  return { strides: [strides[1] ?? 1, strides[2] ?? 1], dilations: [dil[1] ?? 1, dil[2] ?? 1], ...padAttrs(n) };
}

/**
 * @param topology model.json's modelTopology (graph-model format)
 * @param weights the decoded constants by node name
 * @param inputShape NHWC shape of the single Placeholder input
 * @param outputNodes names of the nodes whose values are the outputs (e.g. 'Identity')
 */
export function graphToOnnx(topology: { node: TfNode[] }, weights: tf.NamedTensorMap, inputShape: number[], outputNodes: string[]): GraphToOnnxResult {
  const cv = new GraphConverter(topology, weights);
  const g = cv.g;
  const outs = outputNodes.map((o) => cv.emit(o));
  // Graph outputs must be distinct named values: give each requested output an Identity of its own.
  const named = outs.map((v, i) => g.addNode('Identity', [v], `output_${i}`).outputs[0]);
  const shapes = named.map(() => ['n', 'a', 'k']);
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'facecls',
    docString: 'converted from a tfjs graph model by facecls (src/detect/graph-to-onnx.ts)',
    graph: g.toProto(
      'detector',
      [{ name: cv.inputName, shape: inputShape }],
      named.map((name, i) => ({ name, shape: shapes[i] })),
    ),
  });
  return { bytes, input: cv.inputName, outputs: named };
}
