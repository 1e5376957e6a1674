/**
 * Rebuild a Keras model graph (Sequential or functional `Model`) as a tfjs-layers model.
 * Understands the Keras 2 config layouts (Sequential as a list or {layers}, inbound nodes as
 * [[name, node, tensor, kwargs], ...]) and the newer {args, kwargs} node layout.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors.js';
import { createLayer, inputShape, type LayerSpec } from './layers.js';

type Sym = tf.SymbolicTensor;

export interface BuiltGraph {
  model: tf.LayersModel;
  /** Keras class of every layer, by name (InputLayer included). */
  classes: Map<string, string>;
  kind: 'Sequential' | 'Model';
}

interface RawLayer {
  class_name?: unknown;
  name?: unknown;
  config?: unknown;
  inbound_nodes?: unknown;
}

type Ref = [string, number, number];

function spec(raw: RawLayer, index: number): LayerSpec {
  if (!raw || typeof raw !== 'object' || typeof raw.class_name !== 'string') {
    throw new UserError(`model_config layer #${index} has no class_name`);
  }
  const config = (raw.config && typeof raw.config === 'object' ? raw.config : {}) as Record<string, unknown>;
  const name = typeof raw.name === 'string' ? raw.name : typeof config.name === 'string' ? config.name : `layer_${index}`;
  return { className: raw.class_name, name, config };
}

function isRef(v: unknown): v is [string, number, number, ...unknown[]] {
  return Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number';
}

/** Input references of one inbound node, in order, in either config layout. */
function nodeRefs(node: unknown, layerName: string): Ref[] {
  const refs: Ref[] = [];
  const walk = (v: unknown): void => {
    if (isRef(v)) {
      const kwargs = v[3];
      if (kwargs && typeof kwargs === 'object' && Object.keys(kwargs).length > 0) {
        throw new UserError(`Keras layer "${layerName}" is called with arguments ${JSON.stringify(kwargs)}, which are not supported`);
      }
      refs.push([v[0], v[1], v[2]]);
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.class_name === '__keras_tensor__') {
        const h = (o.config as { keras_history?: unknown } | undefined)?.keras_history;
        if (!isRef(h)) throw new UserError(`Keras layer "${layerName}": unreadable inbound tensor`);
        refs.push([h[0], h[1], h[2]]);
      } else if ('args' in o) {
        walk(o.args);
        const kwargs = o.kwargs as Record<string, unknown> | undefined;
        const extra = Object.keys(kwargs ?? {}).filter((k) => k !== 'training' && k !== 'mask');
        if (extra.length > 0) throw new UserError(`Keras layer "${layerName}" is called with arguments ${extra.join(', ')}, which are not supported`);
      } else {
        throw new UserError(`Keras layer "${layerName}": unreadable inbound node ${JSON.stringify(v).slice(0, 100)}`);
      }
    }
  };
  walk(node);
  return refs;
}

function refList(v: unknown, what: string): Ref[] {
  if (isRef(v)) return [[v[0], v[1], v[2]]];
  if (!Array.isArray(v) || !v.every(isRef)) throw new UserError(`model_config: unreadable ${what}`);
  return v.map((r) => [r[0], r[1], r[2]] as Ref);
}

const key = (r: Ref): string => `${r[0]}:${r[1]}:${r[2]}`;

function makeInput(s: LayerSpec): Sym {
  const shape = inputShape(s);
  if (shape.length !== 4) {
    throw new UserError(`Keras input "${s.name}" has shape [${shape.join(', ')}]: only image inputs [batch, height, width, channels] are supported`);
  }
  if (shape.slice(1).some((d) => typeof d !== 'number' || d < 1)) {
    throw new UserError(`Keras input "${s.name}" has shape [${shape.join(', ')}]: height, width and channels must be fixed`);
  }
  return tf.input({ batchShape: [null, ...(shape.slice(1) as number[])], name: s.name });
}

function applyLayer(layer: tf.layers.Layer, inputs: Sym[]): Sym[] {
  const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs);
  return (Array.isArray(out) ? out : [out]) as Sym[];
}

/** Layers created so far, so a failed import disposes their weights. */
let created: tf.layers.Layer[] = [];

function newLayer(s: LayerSpec): tf.layers.Layer {
  const layer = createLayer(s);
  created.push(layer);
  return layer;
}

function buildSequential(layersRaw: unknown[], modelName: string): BuiltGraph {
  const classes = new Map<string, string>();
  const specs = layersRaw.map((l, i) => spec(l as RawLayer, i));
  if (specs.length === 0) throw new UserError('model_config: the Sequential model has no layers');
  let x: Sym;
  let rest: LayerSpec[];
  if (specs[0].className === 'InputLayer') {
    x = makeInput(specs[0]);
    classes.set(specs[0].name, 'InputLayer');
    rest = specs.slice(1);
  } else {
    // Keras 2 Sequential: the first layer carries batch_input_shape.
    const first = specs[0];
    const shape = first.config.batch_input_shape;
    if (!Array.isArray(shape)) throw new UserError(`Keras layer "${first.name}" (first layer of a Sequential model) has no batch_input_shape`);
    x = makeInput({ className: 'InputLayer', name: `${first.name}_input`, config: { batch_input_shape: shape } });
    classes.set(`${first.name}_input`, 'InputLayer');
    const { batch_input_shape: _s, input_dtype: _d, ...cfg } = first.config;
    rest = [{ ...first, config: cfg }, ...specs.slice(1)];
  }
  const input = x;
  for (const s of rest) {
    if (s.className === 'InputLayer') throw new UserError(`Keras layer "${s.name}": an InputLayer in the middle of a Sequential model is not supported`);
    const { batch_input_shape: _s, input_dtype: _d, ...cfg } = s.config;
    const layer = newLayer({ ...s, config: cfg });
    classes.set(s.name, s.className);
    const out = applyLayer(layer, [x]);
    x = out[0];
  }
  return { model: tf.model({ inputs: input, outputs: x, name: modelName }), classes, kind: 'Sequential' };
}

function buildFunctional(cfg: Record<string, unknown>, modelName: string): BuiltGraph {
  const layersRaw = cfg.layers;
  if (!Array.isArray(layersRaw) || layersRaw.length === 0) throw new UserError('model_config: the model has no layers');
  const specs = layersRaw.map((l, i) => ({ s: spec(l as RawLayer, i), raw: l as RawLayer }));
  const classes = new Map<string, string>();
  const tensors = new Map<string, Sym>();
  const pending: Array<{ s: LayerSpec; layer: tf.layers.Layer; nodes: Ref[][]; next: number }> = [];
  for (const { s, raw } of specs) {
    if (classes.has(s.name)) throw new UserError(`model_config: two layers are named "${s.name}"`);
    classes.set(s.name, s.className);
    const nodes = Array.isArray(raw.inbound_nodes) ? raw.inbound_nodes : [];
    if (s.className === 'InputLayer') {
      tensors.set(key([s.name, 0, 0]), makeInput(s));
      continue;
    }
    if (nodes.length === 0) continue; // a layer never called does not contribute to the graph
    pending.push({ s, layer: newLayer(s), nodes: nodes.map((n) => nodeRefs(n, s.name)), next: 0 });
  }
  // Apply layers in dependency order (a shared layer is called once per inbound node).
  let progress = true;
  while (progress) {
    progress = false;
    for (const p of pending) {
      while (p.next < p.nodes.length) {
        const refs = p.nodes[p.next];
        for (const r of refs) if (!classes.has(r[0])) throw new UserError(`Keras layer "${p.s.name}" takes input from unknown layer "${r[0]}"`);
        if (!refs.every((r) => tensors.has(key(r)))) break;
        const out = applyLayer(
          p.layer,
          refs.map((r) => tensors.get(key(r)) as Sym),
        );
        out.forEach((t, i) => tensors.set(key([p.s.name, p.next, i]), t));
        p.next++;
        progress = true;
      }
    }
  }
  const stuck = pending.find((p) => p.next < p.nodes.length);
  if (stuck) throw new UserError(`model_config: cannot resolve the inputs of layer "${stuck.s.name}" (cycle or missing layer)`);
  const resolve = (refs: Ref[], what: string): Sym[] =>
    refs.map((r) => {
      const t = tensors.get(key(r));
      if (!t) throw new UserError(`model_config: ${what} "${r[0]}" is not in the graph`);
      return t;
    });
  const inputs = resolve(refList(cfg.input_layers, 'input_layers'), 'input');
  const outputs = resolve(refList(cfg.output_layers, 'output_layers'), 'output');
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw new UserError(`the model has ${inputs.length} inputs and ${outputs.length} outputs: facecls models take one image and give one class vector`);
  }
  return { model: tf.model({ inputs: inputs[0], outputs: outputs[0], name: modelName }), classes, kind: 'Model' };
}

/** Build the tfjs model described by a Keras `model_config`. */
export function buildFromKerasConfig(modelConfig: { class_name: string; config: unknown }): BuiltGraph {
  created = [];
  try {
    return buildGraph(modelConfig);
  } catch (err) {
    for (const layer of created) {
      try {
        layer.dispose();
      } catch {
        // a layer that was never built holds no weights
      }
    }
    throw err;
  } finally {
    created = [];
  }
}

function buildGraph(modelConfig: { class_name: string; config: unknown }): BuiltGraph {
  const { class_name: cls, config } = modelConfig;
  const cfg = config as Record<string, unknown> | unknown[];
  const name = (!Array.isArray(cfg) && typeof cfg?.name === 'string' ? cfg.name : 'keras_model').replace(/[^A-Za-z0-9_.-]/g, '_');
  if (cls === 'Sequential') {
    const layers = Array.isArray(cfg) ? cfg : (cfg as Record<string, unknown>)?.layers;
    if (!Array.isArray(layers)) throw new UserError('model_config: the Sequential model has no layer list');
    return buildSequential(layers, name);
  }
  if (cls === 'Model' || cls === 'Functional') {
    if (!cfg || Array.isArray(cfg)) throw new UserError(`model_config: the ${cls} config is not an object`);
    return buildFunctional(cfg, name);
  }
  throw new UserError(`unsupported Keras model class ${cls}: expected Sequential or Model`);
}
