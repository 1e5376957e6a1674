/**
 * Runs a tfjs LayersModel's forward pass layer by layer (walking its functional graph) so that
 * saliency methods can swap the backward pass of individual operations:
 *  - every ReLU (Activation('relu'|'relu6'), ReLU layers, fused conv/dense activations) can be
 *    replaced by a guided ReLU (tf.customGrad) whose backward pass is gated by forward input > 0
 *    AND incoming gradient > 0;
 *  - the final softmax can be dropped to get class logits;
 *  - one intermediate tensor (the Grad-CAM feature map) can be tapped: recorded and offset by a
 *    zero tensor so that the gradient with respect to it comes out of the same backward pass.
 *
 * Convolutions are computed here with the unfused ops (tf.conv2d, tf.depthwiseConv2d), not via
 * layer.apply: inside a gradient tape tfjs-layers' fused conv computes the filter gradient too
 * (a custom gradient evaluates all its inputs' gradients), which wastes time and needs kernels some
 * backends lack. The input gradient of a stride-1 depthwise convolution is itself a depthwise
 * convolution with the spatially flipped kernel; where the backend has no
 * DepthwiseConv2dNativeBackpropInput kernel (tfjs wasm 4.22) we supply that through tf.customGrad,
 * so every zoo architecture differentiates on every backend.
 * Everything else (batch norm in inference mode, pooling, Add, dropout = identity, reshape...) runs
 * through the layer's own call with training = false.
 */
import * as tf from '@tensorflow/tfjs';
// Registers the training engine's wasm gradient kernels (XNNPACK-backed conv and depthwise input
// gradients, max-pool gradient): the backward pass here needs the input-gradient ones.
import '../engine/wasm-kernels.js';
import { UserError } from '../errors.js';
import { applyActivation, depthwiseGradPolicy, depthwiseStride1, type ActName, type ReluMode } from './graph-ops.js';

export { depthwiseGradPolicy, guidedRelu, type ReluMode } from './graph-ops.js';

/** What the score of a class is computed from. */
export type ScoreSource = 'logit' | 'probability';

interface LayerInternals {
  activation?: { getClassName(): string; apply(x: tf.Tensor, axis?: number): tf.Tensor } | null;
  kernel?: { read(): tf.Tensor };
  depthwiseKernel?: { read(): tf.Tensor };
  pointwiseKernel?: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor } | null;
  useBias?: boolean;
  strides?: number | number[];
  padding?: 'same' | 'valid' | 'causal';
  dilationRate?: number | number[];
  dataFormat?: string;
  rank?: number;
  maxValue?: number | null;
  // BatchNormalization
  gamma?: { read(): tf.Tensor } | null;
  beta?: { read(): tf.Tensor } | null;
  movingMean?: { read(): tf.Tensor };
  movingVariance?: { read(): tf.Tensor };
  epsilon?: number;
  axis?: number;
}

type StepKind = 'conv2d' | 'separable' | 'depthwise' | 'batchnorm' | 'activation' | 'relu-layer' | 'generic';

export interface Step {
  layer: tf.layers.Layer;
  kind: StepKind;
  inputIds: number[];
  outputIds: number[];
  /** Activation applied by this step (Activation layers, fused activations), lower-case tfjs name. */
  activation: ActName | null;
  /** ReLU-like (gated in guided mode). */
  relu: boolean;
  /** Conv steps: the batch norm that directly follows (sole consumer), folded into this conv's weights. */
  foldedBn?: tf.layers.Layer;
  /** Batch-norm steps folded into the preceding conv: pass their input through. */
  folded?: boolean;
}

export interface GraphPlan {
  model: tf.LayersModel;
  steps: Step[];
  inputId: number;
  outputId: number;
  /** Index of the step whose softmax is dropped to get logits, or -1 when the model has no final softmax. */
  softmaxStep: number;
  /** Default Grad-CAM feature map: the input of the last convolution (the classification head conv). */
  camTensorId: number;
  camLayerName: string;
  /** Symbolic shape of the default CAM feature map (batch dim null). */
  camShape: number[];
}

const CONV_KINDS: Record<string, StepKind> = {
  Conv2D: 'conv2d',
  SeparableConv2D: 'separable',
  DepthwiseConv2D: 'depthwise',
};

function internals(layer: tf.layers.Layer): LayerInternals {
  return layer as unknown as LayerInternals;
}

function pair(v: number | number[] | undefined, dflt = 1): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v[v.length > 1 ? 1 : 0]];
}

const plans = new WeakMap<tf.LayersModel, GraphPlan>();

/** Build (once per model, cached) the execution plan: layers in topological order with their tensors. */
export function graphPlan(model: tf.LayersModel): GraphPlan {
  const cached = plans.get(model);
  if (cached) return cached;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UserError(`saliency needs a model with one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
  }
  const known = new Set<number>([model.inputs[0].id]);
  const steps: Step[] = [];
  const pending = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  // model.layers is topologically sorted for functional models; loop defensively anyway.
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length; i++) {
      const layer = pending[i];
      const node = layer.inboundNodes.find((n) => n.inputTensors.length > 0 && n.inputTensors.every((t) => known.has(t.id)));
      if (!node) continue;
      const cls = layer.getClassName();
      if ('layers' in layer && Array.isArray((layer as unknown as { layers: unknown }).layers)) {
        throw new UserError(`saliency cannot look inside nested model "${layer.name}": flatten the model first`);
      }
      const li = internals(layer);
      let kind: StepKind =
        CONV_KINDS[cls] ?? (cls === 'Activation' ? 'activation' : cls === 'ReLU' ? 'relu-layer' : cls === 'BatchNormalization' ? 'batchnorm' : 'generic');
      if (kind === 'batchnorm' && !(li.axis === -1 || li.axis === 3)) kind = 'generic';
      if (kind !== 'generic' && kind !== 'activation' && kind !== 'relu-layer' && li.dataFormat === 'channelsFirst') kind = 'generic';
      if (kind === 'conv2d' && li.rank !== 2) kind = 'generic';
      let activation: ActName | null = null;
      if (kind === 'relu-layer') activation = li.maxValue == null ? 'relu' : 'relu-clip';
      else if (li.activation && typeof li.activation.getClassName === 'function') activation = li.activation.getClassName().toLowerCase();
      if (activation === 'linear') activation = null;
      const relu = activation === 'relu' || activation === 'relu6' || activation === 'relu-clip';
      steps.push({ layer, kind, inputIds: node.inputTensors.map((t) => t.id), outputIds: node.outputTensors.map((t) => t.id), activation, relu });
      for (const t of node.outputTensors) known.add(t.id);
      pending.splice(i, 1);
      i--;
    }
    if (pending.length === before) throw new UserError(`cannot order the layers of model "${model.name}" (disconnected graph)`);
  }
  foldBatchNorms(steps);
  const outputId = model.outputs[0].id;
  const last = steps.findIndex((s) => s.outputIds.includes(outputId));
  const softmaxStep = last >= 0 && steps[last].activation === 'softmax' ? last : -1;
  let camIdx = -1;
  for (let i = steps.length - 1; i >= 0 && camIdx < 0; i--) if (steps[i].layer.getClassName() in CONV_KINDS) camIdx = i;
  if (camIdx < 0) throw new UserError(`model "${model.name}" has no convolution: Grad-CAM needs a convolutional feature map`);
  const camStep = steps[camIdx];
  const camTensorId = camStep.inputIds[0];
  const camNode = camStep.layer.inboundNodes.find((n) => n.inputTensors.some((t) => t.id === camTensorId))!;
  const camSym = camNode.inputTensors.find((t) => t.id === camTensorId)!;
  const producer = steps.find((s) => s.outputIds.includes(camTensorId));
  const plan: GraphPlan = {
    model,
    steps,
    inputId: model.inputs[0].id,
    outputId,
    softmaxStep,
    camTensorId,
    camLayerName: producer ? producer.layer.name : model.inputs[0].name,
    camShape: camSym.shape.map((d) => (d === null ? -1 : d)),
  };
  plans.set(model, plan);
  return plan;
}

/**
 * Mark conv -> batch norm pairs where the batch norm is the conv output's only consumer and the conv
 * has no activation: in inference mode the batch norm is a per-channel affine map, so it is folded
 * into the conv's kernel and bias at run time (saves its forward and backward ops).
 */
function foldBatchNorms(steps: Step[]): void {
  const consumers = new Map<number, number>();
  for (const s of steps) for (const id of s.inputIds) consumers.set(id, (consumers.get(id) ?? 0) + 1);
  for (const bn of steps) {
    if (bn.kind !== 'batchnorm') continue;
    const conv = steps.find((s) => s.outputIds.includes(bn.inputIds[0]));
    if (!conv || !['conv2d', 'separable', 'depthwise'].includes(conv.kind) || conv.activation !== null) continue;
    if (consumers.get(bn.inputIds[0]) !== 1 || conv.foldedBn) continue;
    conv.foldedBn = bn.layer;
    bn.folded = true;
  }
}

/** Inference-mode batch norm as y = x * scale + shift (per channel). */
function bnAffine(layer: tf.layers.Layer): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
  const li = internals(layer);
  const mean = li.movingMean!.read() as tf.Tensor1D;
  let scale = tf.rsqrt(tf.add(li.movingVariance!.read(), li.epsilon ?? 1e-3)) as tf.Tensor1D;
  if (li.gamma) scale = tf.mul(scale, li.gamma.read());
  let shift = tf.neg(tf.mul(mean, scale)) as tf.Tensor1D;
  if (li.beta) shift = tf.add(shift, li.beta.read());
  return { scale, shift };
}

/** Find the tensor produced by the named layer (for a user-chosen Grad-CAM layer). */
export function layerOutput(plan: GraphPlan, layerName: string): { id: number; shape: number[] } {
  const step = plan.steps.find((s) => s.layer.name === layerName);
  if (!step) {
    throw new UserError(`model has no layer named "${layerName}"; layers: ${plan.steps.map((s) => s.layer.name).join(', ')}`);
  }
  const shape = step.layer.outputShape as number[];
  if (!Array.isArray(shape) || shape.length !== 4)
    throw new UserError(`layer "${layerName}" does not output a 2-D feature map (shape ${JSON.stringify(shape)})`);
  return { id: step.outputIds[0], shape: shape.map((d) => (d === null ? -1 : d)) };
}

/** Whether any ReLU runs after (is downstream of, conservatively: later in order than) tensor `id`. */
export function reluAfter(plan: GraphPlan, id: number): boolean {
  const idx = plan.steps.findIndex((s) => s.outputIds.includes(id));
  return plan.steps.some((s, i) => i > idx && s.relu);
}

/** Weights a step runs with: batch norm folded in, depthwise kernel flipped for its input gradient. */
interface StepWeights {
  kernel?: tf.Tensor4D;
  depthwise?: tf.Tensor4D;
  /** Depthwise kernel flipped spatially, reshaped [kh, kw, c * m, 1] (custom input gradient). */
  flipped?: tf.Tensor4D;
  pointwise?: tf.Tensor4D;
  bias?: tf.Tensor;
  /** Unfolded batch norm as an affine map. */
  scale?: tf.Tensor;
  shift?: tf.Tensor;
}

/** The model variables a step's weights derive from (their data ids change when weights are set). */
function sourceVariables(step: Step, fold: boolean): tf.Tensor[] {
  const li = internals(step.layer);
  const vars = [li.kernel, li.depthwiseKernel, li.pointwiseKernel, li.bias, li.gamma, li.beta, li.movingMean, li.movingVariance]
    .filter((v): v is { read(): tf.Tensor } => !!v)
    .map((v) => v.read());
  if (fold && step.foldedBn) vars.push(...sourceVariables({ ...step, layer: step.foldedBn, foldedBn: undefined }, false));
  return vars;
}

function computeWeights(step: Step, fold: boolean): StepWeights {
  const li = internals(step.layer);
  if (step.kind === 'batchnorm') return bnAffine(step.layer);
  const bn = fold && step.foldedBn ? bnAffine(step.foldedBn) : undefined;
  const w: StepWeights = {};
  w.bias = li.useBias !== false && li.bias ? li.bias.read() : undefined;
  if (bn) w.bias = w.bias ? tf.add(tf.mul(w.bias, bn.scale), bn.shift) : bn.shift;
  if (step.kind === 'conv2d') {
    w.kernel = li.kernel!.read() as tf.Tensor4D;
    if (bn) w.kernel = tf.mul(w.kernel, bn.scale) as tf.Tensor4D;
  } else {
    let dw = li.depthwiseKernel!.read() as tf.Tensor4D;
    if (bn && step.kind === 'depthwise') dw = tf.mul(dw, tf.reshape(bn.scale, [1, 1, dw.shape[2], dw.shape[3]]));
    w.depthwise = dw;
    const [kh, kw, c, m] = dw.shape;
    w.flipped = tf.reshape(tf.reverse(dw, [0, 1]), [kh, kw, c * m, 1]) as tf.Tensor4D;
    if (step.kind === 'separable') {
      w.pointwise = li.pointwiseKernel!.read() as tf.Tensor4D;
      if (bn) w.pointwise = tf.mul(w.pointwise, bn.scale) as tf.Tensor4D;
    }
  }
  return w;
}

interface PreparedWeights {
  sources: tf.Tensor[];
  dataIds: object[];
  weights: StepWeights;
  owned: tf.Tensor[];
}
const prepared = new WeakMap<Step, PreparedWeights>();

function dataIdOf(t: tf.Tensor): object {
  return (t as unknown as { dataId: object }).dataId;
}

function isFresh(p: PreparedWeights, step: Step): boolean {
  const now = sourceVariables(step, true);
  return now.length === p.sources.length && now.every((t, i) => t === p.sources[i] && !t.isDisposed && dataIdOf(t) === p.dataIds[i]);
}

function stepWeights(step: Step, fold: boolean): StepWeights {
  if (fold) {
    const p = prepared.get(step);
    if (p && isFresh(p, step)) return p.weights;
  }
  return computeWeights(step, fold);
}

/**
 * Precompute (outside any gradient tape) the folded weights of every step, reusing those whose
 * source variables are unchanged (same tensors, same data: assigning a variable changes its data id).
 * Saves ~100 small ops and their tape bookkeeping per call.
 */
export function prepareWeights(plan: GraphPlan): void {
  for (const step of plan.steps) {
    if (!['conv2d', 'separable', 'depthwise'].includes(step.kind) && !(step.kind === 'batchnorm' && !step.folded)) continue;
    const old = prepared.get(step);
    if (old && isFresh(old, step)) continue;
    if (old) tf.dispose(old.owned);
    const sources = sourceVariables(step, true);
    const weights = tf.tidy(() => computeWeights(step, true) as Record<string, tf.Tensor>) as StepWeights;
    const owned = Object.values(weights).filter((t): t is tf.Tensor => !!t && !sources.includes(t));
    prepared.set(step, { sources, dataIds: sources.map(dataIdOf), weights, owned });
  }
}

/**
 * Gradient kernels the walk's backward pass needs that the active backend lacks (checked before
 * any tape starts: a kernel error in the middle of a backward pass would strand taped tensors).
 */
export function missingGradientKernels(plan: GraphPlan): string[] {
  const backend = tf.getBackend();
  const need = new Set<string>();
  for (const step of plan.steps) {
    const cls = step.layer.getClassName();
    if (step.kind === 'conv2d') need.add('Conv2DBackpropInput');
    if (step.kind === 'separable' || step.kind === 'depthwise') {
      const st = pair(internals(step.layer).strides);
      if (st[0] !== 1 || st[1] !== 1 || depthwiseGradPolicy.mode === 'native') need.add('DepthwiseConv2dNativeBackpropInput');
      if (step.kind === 'separable') need.add('Conv2DBackpropInput');
    }
    if (cls === 'MaxPooling2D') need.add('MaxPoolGrad');
    if (cls === 'AveragePooling2D') need.add('AvgPoolGrad');
  }
  return [...need].filter((k) => tf.getKernel(k, backend) === undefined);
}

/** Release the weights cached for a model's saliency (call before or after disposing the model). */
export function releasePlan(model: tf.LayersModel): void {
  const plan = plans.get(model);
  if (!plan) return;
  for (const step of plan.steps) {
    const p = prepared.get(step);
    if (p) tf.dispose(p.owned);
    prepared.delete(step);
  }
  plans.delete(model);
}

function convStep(step: Step, x: tf.Tensor4D, fold: boolean): tf.Tensor4D {
  const li = internals(step.layer);
  const strides = pair(li.strides);
  const dil = pair(li.dilationRate);
  const padding = (li.padding ?? 'valid') as 'same' | 'valid';
  const w = stepWeights(step, fold);
  let y: tf.Tensor4D;
  if (step.kind === 'conv2d') {
    y = tf.conv2d(x, w.kernel!, strides, padding, 'NHWC', dil);
  } else {
    const stride1 = strides[0] === 1 && strides[1] === 1;
    y = stride1 ? depthwiseStride1(x, w.depthwise!, w.flipped!, padding, dil) : tf.depthwiseConv2d(x, w.depthwise!, strides, padding, 'NHWC', dil);
    if (step.kind === 'separable') y = tf.conv2d(y, w.pointwise!, 1, 'valid');
  }
  if (w.bias) y = tf.add(y, w.bias);
  return y;
}

export interface RunOptions {
  relu: ReluMode;
  /** Return logits (drop the final softmax) instead of the model output. */
  logits: boolean;
  /** Tap: when tensor `id` is produced, replace it by tensor + add and report it. */
  tap?: { id: number; add?: tf.Tensor; onValue: (t: tf.Tensor) => void };
}

/** Forward pass (call inside tf.grad / tf.tidy). Returns the scores [batch, classes]. */
export function runGraph(plan: GraphPlan, x: tf.Tensor, opts: RunOptions): tf.Tensor {
  const values = new Map<number, tf.Tensor>();
  values.set(plan.inputId, x);
  const tapInput = opts.tap?.id === plan.inputId;
  if (tapInput && opts.tap) {
    const t = opts.tap.add ? tf.add(x, opts.tap.add) : x;
    values.set(plan.inputId, t);
    opts.tap.onValue(t);
  }
  // Drop references once the last consumer ran (the tape or tidy owns and disposes the tensors).
  const lastUse = new Map<number, number>();
  plan.steps.forEach((s, i) => s.inputIds.forEach((id) => lastUse.set(id, i)));
  let out: tf.Tensor | undefined;
  for (let i = 0; i < plan.steps.length; i++) {
    const step = plan.steps[i];
    const inputs = step.inputIds.map((id) => {
      const v = values.get(id);
      if (!v) throw new Error(`internal: tensor ${id} for layer "${step.layer.name}" not computed`);
      return v;
    });
    const dropSoftmax = opts.logits && i === plan.softmaxStep;
    let y: tf.Tensor;
    const li = internals(step.layer);
    switch (step.kind) {
      case 'conv2d':
      case 'separable':
      case 'depthwise':
        // Tapping the raw conv output (a user-chosen CAM layer) needs it unfolded.
        y = convStep(step, inputs[0] as tf.Tensor4D, opts.tap?.id !== step.outputIds[0]);
        if (step.activation && !dropSoftmax) y = applyActivation(y, step.activation, opts.relu);
        break;
      case 'batchnorm': {
        const producer = plan.steps.find((p) => p.outputIds.includes(step.inputIds[0]));
        if (step.folded && producer?.foldedBn === step.layer && opts.tap?.id !== producer.outputIds[0]) y = inputs[0];
        else {
          const { scale, shift } = stepWeights(step, true);
          y = tf.add(tf.mul(inputs[0], scale!), shift!);
        }
        break;
      }
      case 'activation':
      case 'relu-layer':
        y = dropSoftmax || !step.activation ? inputs[0] : applyActivation(inputs[0], step.activation, opts.relu, li.maxValue);
        break;
      default: {
        // Layers with a fused activation we must change (guided ReLU, dropped softmax): swap it for the call.
        const swap = step.activation !== null && (dropSoftmax || (step.relu && opts.relu === 'guided'));
        const saved = li.activation;
        if (swap) li.activation = tf.layers.activation({ activation: 'linear' }) as unknown as LayerInternals['activation'];
        try {
          y = step.layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false }) as tf.Tensor;
        } finally {
          if (swap) li.activation = saved;
        }
        if (swap && !dropSoftmax && step.activation) y = applyActivation(y, step.activation, opts.relu, li.maxValue);
      }
    }
    const id = step.outputIds[0];
    if (opts.tap && opts.tap.id === id) {
      if (opts.tap.add) y = tf.add(y, opts.tap.add);
      opts.tap.onValue(y);
    }
    values.set(id, y);
    if (id === plan.outputId) out = y;
    for (const inId of step.inputIds) if (lastUse.get(inId) === i) values.delete(inId);
  }
  if (!out) throw new Error(`internal: model output was not computed`);
  return out;
}
