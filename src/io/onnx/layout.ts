/**
 * Keras (NHWC, TF padding) to ONNX (NCHW, explicit pads) conversions of the exporter: padding, kernel
 * layouts, and batch norm folded into a convolution's weights.
 */
import type { GraphBuilder, GraphNode, Initializer } from './graph-builder.js';

/** A convolution node the exporter wrote, with the initializers batch norm may fold into. */
export interface ConvRecord {
  node: GraphNode;
  weight: Initializer;
  bias?: Initializer;
  outChannels: number;
  baseName: string;
}

export function pair(v: unknown, name: string): [number, number] {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || !a.every((x) => Number.isInteger(x))) throw new Error(`internal error: bad ${name} ${JSON.stringify(v)}`);
  return [a[0] as number, a[1] as number];
}

/**
 * Explicit ONNX pads [top, left, bottom, right] for TF padding over a known input size.
 * 'same' pads so the output is ceil(in / stride), with the extra pixel at the end (bottom/right).
 */
export function tfPads(
  padding: string,
  inSize: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number] = [1, 1],
): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(inSize[i] / strides[i]);
    const effective = (kernel[i] - 1) * dilation[i] + 1;
    const total = Math.max((out - 1) * strides[i] + effective - inSize[i], 0);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [...begin, ...end];
}

/** Keras conv kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
export function kernelToOIHW(k: Float32Array, kh: number, kw: number, inC: number, outC: number): Float32Array {
  const w = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < inC; i++) for (let o = 0; o < outC; o++) w[((o * inC + i) * kh + y) * kw + x] = k[((y * kw + x) * inC + i) * outC + o];
  return w;
}

/** Keras depthwise kernel [kh, kw, in, mult] -> ONNX grouped conv [in * mult, 1, kh, kw] (channel c*mult+m). */
export function depthwiseToOIHW(k: Float32Array, kh: number, kw: number, inC: number, mult: number): Float32Array {
  const w = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < inC; c++) for (let m = 0; m < mult; m++) w[((c * mult + m) * kh + y) * kw + x] = k[((y * kw + x) * inC + c) * mult + m];
  return w;
}

/** y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta, folded into the conv's weights and bias. */
export function foldInto(
  rec: ConvRecord,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
  g: GraphBuilder,
): void {
  const w = rec.weight.data as Float32Array;
  const per = w.length / rec.outChannels;
  const bias = new Float32Array(rec.outChannels);
  const oldBias = rec.bias?.data as Float32Array | undefined;
  for (let o = 0; o < rec.outChannels; o++) {
    const scale = gamma[o] / Math.sqrt(variance[o] + eps);
    for (let j = 0; j < per; j++) w[o * per + j] *= scale;
    bias[o] = ((oldBias ? oldBias[o] : 0) - mean[o]) * scale + beta[o];
  }
  if (rec.bias) rec.bias.data = bias;
  else {
    rec.bias = g.addInitializer(`${rec.baseName}/bias`, [rec.outChannels], bias);
    rec.node.inputs.push(rec.bias.name);
  }
}
