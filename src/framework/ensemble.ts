/**
 * An ensemble of trained classifiers as ONE layers model: every member's layers (renamed
 * `m<i>_<name>`) fed by a shared input, their softmax outputs averaged by an Average layer named
 * `predictions`. Being an ordinary functional model, it saves, loads, exports to ONNX, runs in the
 * browser and serves as a distillation teacher like any single model.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';

type Json = Record<string, unknown>;
type LayerJson = { name: string; class_name: string; config: Json; inbound_nodes: unknown[][][] };
type ModelJson = {
  class_name: string;
  config: { name: string; layers: LayerJson[]; input_layers: unknown[][]; output_layers: unknown[][] };
  keras_version?: string;
  backend?: string;
};

export const ENSEMBLE_INPUT = 'image';
export const ENSEMBLE_OUTPUT = 'predictions';

/** How an ensemble's output is formed (recorded in its metadata and model card). */
export const ENSEMBLE_COMBINE = "mean of the members' softmax outputs";

export const memberPrefix = (i: number) => `m${i}_`;

/** Build the ensemble model (new weights copied from the members; the members are left untouched). */
export async function buildEnsemble(members: tf.LayersModel[], name = 'ensemble'): Promise<tf.LayersModel> {
  if (members.length < 2) throw new UserError(`an ensemble needs at least 2 models, got ${members.length}`);
  const inShape = (m: tf.LayersModel) => JSON.stringify(m.inputs[0].shape);
  const outShape = (m: tf.LayersModel) => JSON.stringify(m.outputs[0].shape);
  members.forEach((m, i) => {
    if (m.inputs.length !== 1 || m.outputs.length !== 1) throw new UserError(`ensemble member ${i} ("${m.name}") must have one input and one output`);
    if (inShape(m) !== inShape(members[0]))
      throw new UserError(`ensemble members need the same input: member ${i} takes ${inShape(m)}, member 0 ${inShape(members[0])}`);
    if (outShape(m) !== outShape(members[0]))
      throw new UserError(`ensemble members need the same output: member ${i} gives ${outShape(m)}, member 0 ${outShape(members[0])}`);
  });
  const layers: LayerJson[] = [];
  const outputs: unknown[][] = [];
  for (const [i, m] of members.entries()) {
    const topo = m.toJSON(null, false) as unknown as ModelJson;
    if (topo.class_name !== 'Model' && topo.class_name !== 'Functional')
      throw new UserError(`ensemble member ${i} ("${m.name}") is a ${topo.class_name}, not a functional model`);
    const inputNames = new Set(topo.config.input_layers.map((x) => String(x[0])));
    const rename = (n: string) => (inputNames.has(n) ? ENSEMBLE_INPUT : memberPrefix(i) + n);
    for (const l of topo.config.layers) {
      if (l.class_name === 'InputLayer') {
        if (i === 0) layers.push({ ...l, name: ENSEMBLE_INPUT, config: { ...l.config, name: ENSEMBLE_INPUT } });
        continue;
      }
      if (l.class_name === 'Model' || l.class_name === 'Functional' || l.class_name === 'Sequential') {
        throw new UserError(`ensemble member ${i} ("${m.name}") nests a model ("${l.name}"): not supported`);
      }
      layers.push({
        ...l,
        name: rename(l.name),
        config: { ...l.config, name: rename(l.name) },
        inbound_nodes: l.inbound_nodes.map((node) => node.map((ref) => [rename(String(ref[0])), ...ref.slice(1)])),
      });
    }
    outputs.push([rename(String(topo.config.output_layers[0][0])), topo.config.output_layers[0][1], topo.config.output_layers[0][2], {}]);
  }
  layers.push({ name: ENSEMBLE_OUTPUT, class_name: 'Average', config: { name: ENSEMBLE_OUTPUT, trainable: true }, inbound_nodes: [outputs] });
  const topology = {
    class_name: 'Model',
    config: { name, layers, input_layers: [[ENSEMBLE_INPUT, 0, 0]], output_layers: [[ENSEMBLE_OUTPUT, 0, 0]] },
    keras_version: 'tfjs-layers',
    backend: 'tensor_flow.js',
  };
  const ensemble = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelArtifacts['modelTopology'] } as tf.io.ModelJSON);
  try {
    for (const [i, m] of members.entries()) {
      for (const l of m.layers) {
        if (l.getClassName() === 'InputLayer') continue;
        ensemble.getLayer(memberPrefix(i) + l.name).setWeights(l.getWeights());
      }
    }
  } catch (err) {
    ensemble.dispose();
    throw err;
  }
  return ensemble;
}
