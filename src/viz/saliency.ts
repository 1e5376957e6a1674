/**
 * Saliency maps for the face classifiers: what in a face crop drives a class score.
 *
 * - guided: guided back-propagation (Springenberg et al. 2015), the method the paper shows: the
 *   gradient of the class score w.r.t. the input image with every ReLU's backward pass gated by
 *   its forward input > 0 AND the incoming gradient > 0. Map = |gradient| (max over channels).
 * - gradcam: Grad-CAM (Selvaraju et al. 2017) on the feature map entering the classification head
 *   conv (the last convolutional feature map; see docs/saliency.md): weights = spatial mean of the
 *   plain gradient, CAM = ReLU(sum_k w_k A_k), bilinearly upsampled to the crop.
 * - guided-gradcam: product of the two.
 *
 * Class score: by default the pre-softmax logit of the class (score: 'logit'). The paper's code
 * differentiates the softmax output; that is available as score: 'probability'. Logits avoid the
 * softmax coupling (a probability also rises when other classes' logits fall) and its saturation.
 * With `classWeights` the score is a weighted sum of class scores per face (an age estimate's two-hot
 * encoding over the anchor ages: docs/saliency.md, "Age").
 *
 * Per model, the walk plan and batch-norm-folded weights are cached (refreshed when the model's
 * variables change); releaseSaliency(model) frees them.
 *
 * All maps are [crop height x crop width] (the model input size), in [0, 1], normalised per face by
 * their maximum (all zeros when the gradient is zero everywhere). Batches of faces run in one pass;
 * each face's map depends only on that face (batch norm runs in inference mode).
 */
import * as tf from '@tensorflow/tfjs';
import { SALIENCY_METHODS, isSaliencyMethod, type SaliencyMethod } from '../core/types.js';
import { UserError } from '../errors.js';
import { graphPlan, layerOutput, missingGradientKernels, prepareWeights, releasePlan, reluAfter, runGraph, type GraphPlan, type ScoreSource } from './graph.js';

export { SALIENCY_METHODS, isSaliencyMethod, type SaliencyMethod } from '../core/types.js';

export interface SaliencyOptions {
  method: SaliencyMethod;
  /** Class to explain: one index for all faces or one per face. Default: each face's predicted class. */
  classIndex?: number | number[];
  /** Differentiate the logit (default) or the softmax probability. */
  score?: ScoreSource;
  /** Layer whose output is the Grad-CAM feature map. Default: the input of the last convolution. */
  camLayer?: string;
  /**
   * Explain a weighted sum of the class scores per face (one row of class weights per face) instead of
   * one class: an age model's estimate as its two-hot encoding over the anchor ages (docs/saliency.md,
   * "Age"). `classIndex` then does not apply; the class reported is the most probable one.
   */
  classWeights?: ReadonlyArray<readonly number[]>;
}

export interface SaliencyTensors {
  /** [n, h, w] maps in [0, 1] at the model input size. */
  maps: tf.Tensor3D;
  /** [n, classes] softmax probabilities (or the model output when it has no final softmax). */
  probabilities: tf.Tensor2D;
  /** [n] class explained for each face. */
  classIndex: tf.Tensor1D;
}

export interface SaliencyResult {
  method: SaliencyMethod;
  score: ScoreSource;
  /** Map size (the model input / face crop size). */
  width: number;
  height: number;
  /** One map per face: row-major height x width, values in [0, 1]. */
  maps: Float32Array[];
  probabilities: Float32Array[];
  classIndex: number[];
  /** Layer whose output the Grad-CAM used (gradcam methods only). */
  camLayer?: string;
}

/** Throw a UserError unless input is [n, h, w, c] (or one [h, w, c] face) of the model's input size. */
function checkInput(model: tf.LayersModel, input: Float32Array | tf.Tensor): void {
  const shape = model.inputs[0].shape;
  const [h, w, c] = [Number(shape[1]), Number(shape[2]), Number(shape[3])];
  if (input instanceof tf.Tensor) {
    const s = input.shape;
    const ok = (input.rank === 3 && s[0] === h && s[1] === w && s[2] === c) || (input.rank === 4 && s[0] > 0 && s[1] === h && s[2] === w && s[3] === c);
    if (!ok) throw new UserError(`saliency input has shape [${s.join(', ')}] but the model expects [n, ${h}, ${w}, ${c}]`);
  } else {
    if (input.length === 0 || input.length % (h * w * c) !== 0) {
      throw new UserError(`saliency input has ${input.length} values, not a multiple of ${h}x${w}x${c}`);
    }
    for (let i = 0; i < input.length; i++) {
      if (!Number.isFinite(input[i])) throw new UserError(`saliency input value ${i} is ${input[i]}: inputs must be finite`);
    }
  }
}

/** The input as a 4-D tensor (inside a tidy: a new tensor is tracked, a given one returned as is). */
function toInput(model: tf.LayersModel, input: Float32Array | tf.Tensor): tf.Tensor4D {
  checkInput(model, input);
  const shape = model.inputs[0].shape;
  const [h, w, c] = [Number(shape[1]), Number(shape[2]), Number(shape[3])];
  if (input instanceof tf.Tensor) return (input.rank === 3 ? tf.expandDims(input, 0) : input) as tf.Tensor4D;
  return tf.tensor4d(input, [input.length / (h * w * c), h, w, c]);
}

/** Validate a requested class (one for all faces or one per face) before any gradient tape starts. */
function checkClassIndex(classIndex: number | number[] | undefined, n: number, classes: number): number[] | undefined {
  if (classIndex === undefined) return undefined;
  const list = typeof classIndex === 'number' ? new Array<number>(n).fill(classIndex) : classIndex;
  if (list.length !== n) throw new UserError(`got ${list.length} class indices for ${n} faces`);
  for (const k of list) {
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new UserError(`class index ${k} is out of range [0, ${classes - 1}]`);
  }
  return list;
}

function batchSize(model: tf.LayersModel, input: Float32Array | tf.Tensor): number {
  if (input instanceof tf.Tensor) return input.rank === 3 ? 1 : input.shape[0];
  const shape = model.inputs[0].shape;
  return Math.floor(input.length / (Number(shape[1]) * Number(shape[2]) * Number(shape[3])));
}

/** Class weights per face (one row of `classes` finite numbers per face), checked before any tape starts. */
function checkWeights(rows: SaliencyOptions['classWeights'], n: number, classes: number): number[][] | undefined {
  if (rows === undefined) return undefined;
  if (rows.length !== n || rows.some((r) => r.length !== classes || !r.every(Number.isFinite)))
    throw new UserError(`class weights must be ${n} row(s) of ${classes} finite numbers`);
  return rows.map((r) => [...r]);
}

/** One-hot mask of the explained class per face (argmax of the scores when not given). */
function classMask(scores: tf.Tensor, classes: number, list: number[] | undefined): { mask: tf.Tensor; idx: tf.Tensor1D } {
  const idx = list === undefined ? (tf.argMax(scores, 1) as tf.Tensor1D) : tf.tensor1d(list, 'int32');
  return { mask: tf.oneHot(idx, classes), idx };
}

/** Per-face normalisation to [0, 1] by the maximum ([n, h, w]). */
function normalise(m: tf.Tensor3D): tf.Tensor3D {
  const mx = tf.max(m, [1, 2], true);
  return tf.div(m, tf.maximum(mx, 1e-30)) as tf.Tensor3D;
}

/**
 * The [n, h, w] map of a method from the passes' gradients: Grad-CAM weighs the feature map by its
 * mean gradient; guided backpropagation is the input gradient; guided Grad-CAM is their product.
 */
function combineMaps(
  method: SaliencyMethod,
  g: { inputGrad?: tf.Tensor4D; camGrad?: tf.Tensor4D; activation?: tf.Tensor4D },
  [h, w]: [number, number],
): tf.Tensor3D {
  let camMap: tf.Tensor3D | undefined;
  if (method !== 'guided') {
    const weights = tf.mean(g.camGrad!, [1, 2], true); // [n, 1, 1, K]
    const raw = tf.relu(tf.sum(tf.mul(g.activation!, weights), 3, true)) as tf.Tensor4D; // [n, fh, fw, 1]
    const up = tf.image.resizeBilinear(raw, [h, w], false, true);
    camMap = tf.squeeze(up, [3]) as tf.Tensor3D;
  }
  if (method === 'gradcam') return normalise(camMap!);
  const grad = tf.max(tf.abs(g.inputGrad!), 3) as tf.Tensor3D;
  return normalise(method === 'guided' ? grad : (tf.mul(normalise(grad), camMap!) as tf.Tensor3D));
}

/**
 * Compute saliency maps as tensors (for callers that keep data on the device, e.g. the browser).
 * The caller disposes the returned tensors. Does not leak intermediate tensors.
 */
/** One saliency pass's plan and checked targets: the walk, its score source and the classes (or class weights) per face. */
function passSetup(model: tf.LayersModel, input: Float32Array | tf.Tensor, opts: Pick<SaliencyOptions, 'classIndex' | 'classWeights' | 'score'>) {
  const plan = graphPlan(model);
  const scoreSource: ScoreSource = opts.score ?? 'logit';
  const logits = scoreSource === 'logit' && plan.softmaxStep >= 0;
  const classes = Number(model.outputs[0].shape[model.outputs[0].shape.length - 1]);
  checkInput(model, input);
  const n = batchSize(model, input);
  const classList = checkClassIndex(opts.classIndex, n, classes);
  const weights = checkWeights(opts.classWeights, n, classes);
  checkKernels(plan);
  prepareWeights(plan);
  return { plan, scoreSource, logits, classes, classList, weights };
}

export function saliencyTensors(model: tf.LayersModel, input: Float32Array | tf.Tensor, opts: SaliencyOptions): SaliencyTensors & { camLayer?: string } {
  if (!isSaliencyMethod(opts.method)) throw new UserError(`unknown saliency method "${opts.method}": choose one of ${SALIENCY_METHODS.join(', ')}`);
  const { plan, scoreSource, logits, classes, classList, weights } = passSetup(model, input, opts);
  const needGuided = opts.method !== 'gradcam';
  const needCam = opts.method !== 'guided';
  const cam = needCam ? camTarget(plan, opts.camLayer) : undefined;

  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    kept.push(t);
    return tf.keep(t);
  };
  try {
    const result = tf.tidy(() => {
      const x = toInput(model, input);
      const n = x.shape[0];
      const [h, w] = [x.shape[1], x.shape[2]];
      let probs: tf.Tensor2D | undefined;
      let idx: tf.Tensor1D | undefined;
      let activation: tf.Tensor4D | undefined;

      // One forward + backward pass. Builds the scalar: sum over faces of the chosen class score.
      const score = (out: tf.Tensor): tf.Scalar => {
        const p = logits ? tf.softmax(out) : out;
        probs = keep(p as tf.Tensor2D);
        const s = scoreSource === 'logit' ? out : p;
        const { mask, idx: chosen } = classMask(out, classes, weights ? undefined : classList);
        idx = keep(chosen);
        return tf.sum(tf.mul(s, weights ? tf.tensor2d(weights) : mask));
      };
      const zeros = cam ? tf.zeros([n, ...cam.shape.slice(1)]) : undefined;
      const tap = cam ? { id: cam.id, add: zeros, onValue: (t: tf.Tensor) => (activation = keep(t as tf.Tensor4D)) } : undefined;

      let inputGrad: tf.Tensor4D | undefined;
      let camGrad: tf.Tensor4D | undefined;
      if (needGuided && needCam && cam && !reluAfter(plan, cam.id)) {
        // No ReLU between the feature map and the score: the guided pass gives the plain gradient there too.
        const [gx, gz] = tf.grads((xx: tf.Tensor, z: tf.Tensor) => score(runGraph(plan, xx, { relu: 'guided', logits, tap: { ...tap!, add: z } })))([
          x,
          zeros!,
        ]);
        inputGrad = gx as tf.Tensor4D;
        camGrad = gz as tf.Tensor4D;
      } else {
        if (needGuided) inputGrad = tf.grad((xx: tf.Tensor) => score(runGraph(plan, xx, { relu: 'guided', logits })))(x) as tf.Tensor4D;
        if (needCam) {
          for (const t of [probs, idx, activation]) if (t) t.dispose();
          camGrad = tf.grad((z: tf.Tensor) => score(runGraph(plan, x, { relu: 'plain', logits, tap: { ...tap!, add: z } })))(zeros!) as tf.Tensor4D;
        }
      }

      const map = combineMaps(opts.method, { inputGrad, camGrad, activation }, [h, w]);
      return { maps: map, probabilities: probs!, classIndex: idx! };
    });
    // Returned tensors survive the tidy; kept ones we no longer need are released below.
    const out = new Set<tf.Tensor>([result.maps, result.probabilities, result.classIndex]);
    for (const t of kept) if (!out.has(t) && !t.isDisposed) t.dispose();
    return { ...result, camLayer: cam?.layer };
  } catch (err) {
    for (const t of kept) if (!t.isDisposed) t.dispose();
    throw err;
  }
}

/**
 * Gradient of the class score w.r.t. the input, with ReLUs guided or plain ([n, h, w, c], caller
 * disposes). For inspection and tests; saliencyTensors is the fast path for maps.
 */
export function inputGradients(
  model: tf.LayersModel,
  input: Float32Array | tf.Tensor,
  opts: { guided: boolean; classIndex?: number | number[]; score?: ScoreSource; classWeights?: SaliencyOptions['classWeights'] },
): tf.Tensor4D {
  const { plan, scoreSource, logits, classes, classList, weights } = passSetup(model, input, opts);
  return tf.tidy(() => {
    const x = toInput(model, input);
    return tf.grad((xx: tf.Tensor) => {
      const out = runGraph(plan, xx, { relu: opts.guided ? 'guided' : 'plain', logits });
      const s = scoreSource === 'logit' || plan.softmaxStep < 0 ? out : tf.softmax(out);
      return tf.sum(tf.mul(s, weights ? tf.tensor2d(weights) : classMask(out, classes, classList).mask));
    })(x) as tf.Tensor4D;
  });
}

/** Class scores the saliency walk computes (logits, or the model output), for checking it against predict(). */
export function graphScores(model: tf.LayersModel, input: Float32Array | tf.Tensor, score: ScoreSource = 'logit'): tf.Tensor2D {
  const plan = graphPlan(model);
  prepareWeights(plan);
  return tf.tidy(() => runGraph(plan, toInput(model, input), { relu: 'plain', logits: score === 'logit' && plan.softmaxStep >= 0 }) as tf.Tensor2D);
}

/**
 * Free what saliency caches per model (folded weights: a copy of the conv kernels). Call when the
 * model is disposed; the next saliency call on a live model rebuilds the cache.
 */
export function releaseSaliency(model: tf.LayersModel): void {
  releasePlan(model);
}

function checkKernels(plan: GraphPlan): void {
  const missing = missingGradientKernels(plan);
  if (missing.length > 0) {
    throw new UserError(`the ${tf.getBackend()} backend lacks the gradient kernels ${missing.join(', ')} that saliency needs`, {
      reason: 'backend-lacks-kernels',
    });
  }
}

function camTarget(plan: GraphPlan, layer?: string): { id: number; shape: number[]; layer: string } {
  if (layer) return { ...layerOutput(plan, layer), layer };
  return { id: plan.camTensorId, shape: plan.camShape, layer: plan.camLayerName };
}

/** Compute saliency maps and download them (synchronous; one transfer per tensor). */
export function saliencyMaps(model: tf.LayersModel, input: Float32Array | tf.Tensor, opts: SaliencyOptions): SaliencyResult {
  const t = saliencyTensors(model, input, opts);
  try {
    const [n, h, w] = t.maps.shape;
    const maps = t.maps.dataSync() as Float32Array;
    const probs = t.probabilities.dataSync() as Float32Array;
    const idx = t.classIndex.dataSync();
    const classes = t.probabilities.shape[1];
    return {
      method: opts.method,
      score: opts.score ?? 'logit',
      width: w,
      height: h,
      maps: Array.from({ length: n }, (_, i) => maps.slice(i * h * w, (i + 1) * h * w)),
      probabilities: Array.from({ length: n }, (_, i) => probs.slice(i * classes, (i + 1) * classes)),
      classIndex: Array.from(idx),
      camLayer: t.camLayer,
    };
  } finally {
    t.maps.dispose();
    t.probabilities.dispose();
    t.classIndex.dispose();
  }
}
