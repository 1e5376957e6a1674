/**
 * Recognise an imported model as one of the zoo's architectures by comparing graph structure
 * (layer types, their computation-relevant settings and how they connect) and parameter counts.
 * Names, initialisers, regularisers and dropout rates do not count: they do not change the network.
 */
import { createHash } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import { buildModel, ZOO } from '../../framework/zoo.js';

const IRRELEVANT = /(Initializer|Regularizer|Constraint)$|^(name|trainable|dtype|batchInputShape|momentum|seed|rate|noiseShape|sparse|ragged)$/;

/** Commutative layers: input order does not matter. */
const COMMUTATIVE = new Set(['Add', 'Multiply', 'Maximum', 'Minimum', 'Average']);

function layerDescriptor(layer: tf.layers.Layer): string {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const kept = Object.keys(cfg)
    .filter((k) => !IRRELEVANT.test(k))
    .sort()
    .map((k) => [k, cfg[k]]);
  // An input layer is identified by its shape only.
  if (layer.getClassName() === 'InputLayer') return `InputLayer${JSON.stringify(layer.batchInputShape ?? cfg.batchInputShape)}`;
  return `${layer.getClassName()}${JSON.stringify(kept)}`;
}

interface SymLike {
  sourceLayer: tf.layers.Layer;
  nodeIndex: number;
  tensorIndex: number;
}

/** Structural hash of a single-output model (identical for the same network built twice). */
export function structureHash(model: tf.LayersModel): string {
  const memo = new Map<string, string>();
  const visit = (t: SymLike): string => {
    const id = `${t.sourceLayer.name}:${t.nodeIndex}:${t.tensorIndex}`;
    const hit = memo.get(id);
    if (hit) return hit;
    const layer = t.sourceLayer;
    const node = (layer as unknown as { inboundNodes: Array<{ inputTensors: SymLike[] }> }).inboundNodes[t.nodeIndex];
    const children = (node?.inputTensors ?? []).filter((x) => x.sourceLayer !== layer).map(visit);
    if (COMMUTATIVE.has(layer.getClassName())) children.sort();
    const h = createHash('sha256')
      .update(`${layerDescriptor(layer)}#${t.tensorIndex}(${children.join(',')})`)
      .digest('hex');
    memo.set(id, h);
    return h;
  };
  return visit(model.outputs[0] as unknown as SymLike);
}

export interface ArchMatch {
  /** Zoo architecture the model is, layer for layer; undefined when none matches. */
  arch?: string;
  params: number;
  /** Parameter count of the closest zoo model of the same shape (same name as arch when matched). */
  compared: Array<{ name: string; params: number; sameStructure: boolean }>;
}

export function matchZooArchitecture(model: tf.LayersModel, shape: { inputSize: number; channels: number; numClasses: number }): ArchMatch {
  const params = model.countParams();
  const hash = structureHash(model);
  const compared: ArchMatch['compared'] = [];
  let arch: string | undefined;
  for (const a of ZOO) {
    if (shape.inputSize < a.minInput || (a.maxInput !== undefined && shape.inputSize > a.maxInput)) continue;
    let zoo: tf.LayersModel;
    try {
      zoo = buildModel(a.name, shape);
    } catch {
      continue;
    }
    try {
      const same = structureHash(zoo) === hash && zoo.countParams() === params;
      compared.push({ name: a.name, params: zoo.countParams(), sameStructure: same });
      if (same && arch === undefined) arch = a.name;
    } finally {
      zoo.dispose();
    }
  }
  return { arch, params, compared };
}
