/**
 * What a design costs before it is trained: parameters, multiply-accumulates per image
 * (counted from the layers' shapes), weight bytes.
 *
 * MACs count the multiplications of convolutions (standard, depthwise, separable) and dense
 * layers only; batch norm, activations, pooling and additions are element-wise and excluded,
 * as is usual for MAC counts.
 */
import * as tf from '@tensorflow/tfjs';

export interface ModelCost {
  params: number;
  trainableParams: number;
  macs: number;
  weightBytes: number;
}

type Shape = Array<number | null>;

function single(shape: Shape | Shape[]): Shape {
  return (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
}

function kernelSize(cfg: Record<string, unknown>): [number, number] {
  const k = cfg.kernel_size ?? cfg.kernelSize;
  if (Array.isArray(k)) return [Number(k[0]), Number(k[1])];
  return [Number(k), Number(k)];
}

/** Multiply-accumulates of one layer for one image. */
export function layerMacs(layer: tf.layers.Layer): number {
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as Record<string, unknown>;
  const out = single(layer.outputShape as Shape | Shape[]);
  const input = layer.input;
  const inp = (Array.isArray(input) ? input[0] : input).shape as Shape;
  const area = (s: Shape) => Number(s[1]) * Number(s[2]);
  switch (cls) {
    case 'Conv2D': {
      const [kh, kw] = kernelSize(cfg);
      return area(out) * kh * kw * Number(inp[3]) * Number(out[3]);
    }
    case 'DepthwiseConv2D': {
      const [kh, kw] = kernelSize(cfg);
      const mult = Number(cfg.depthMultiplier ?? cfg.depth_multiplier ?? 1);
      return area(out) * kh * kw * Number(inp[3]) * mult;
    }
    case 'SeparableConv2D': {
      const [kh, kw] = kernelSize(cfg);
      const mult = Number(cfg.depthMultiplier ?? cfg.depth_multiplier ?? 1);
      const cin = Number(inp[3]);
      return area(out) * (kh * kw * cin * mult + cin * mult * Number(out[3]));
    }
    case 'Dense':
      return Number(inp[inp.length - 1]) * Number(out[out.length - 1]);
    default:
      return 0;
  }
}

function countWeights(weights: tf.LayerVariable[]): number {
  return weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

export function modelCost(model: tf.LayersModel): ModelCost {
  const params = model.countParams();
  const trainableParams = countWeights(model.trainableWeights);
  const macs = model.layers.reduce((n, l) => n + layerMacs(l), 0);
  const weightBytes = model.weights.reduce(
    (n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1) * (w.dtype === 'float32' || w.dtype === 'int32' ? 4 : 1),
    0,
  );
  return { params, trainableParams, macs, weightBytes };
}
