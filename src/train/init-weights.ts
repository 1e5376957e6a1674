/**
 * Weights for a run that starts from another trained model (facecls train --init): the same
 * architecture, possibly trained on other labels, another input size or the other colour mode.
 * The zoo's networks are fully convolutional, so their weights do not depend on the input size.
 */
import * as tf from '@tensorflow/tfjs';
import { LUMA_WEIGHTS } from '../data/preprocess.js';
import { UserError } from '../errors.js';
import { loadModel } from '../io/model-store.js';
import type { TrainOptions } from './options.js';

export interface InitPlan {
  /** One tensor per weight of `target`, in its order. */
  weights: tf.Tensor[];
  /** The tensors made here (adapted kernels), for the caller to dispose once set. */
  created: tf.Tensor[];
  /** What was adapted, for the run's log; empty when the weights were copied as they are. */
  adaptations: string[];
}

const withWeights = (m: tf.LayersModel) => m.layers.filter((l) => l.weights.length > 0);

/**
 * Map `source`'s weights onto `target`, or say why they cannot serve it (a string).
 * - other labels: every layer but the classifier (the last layer with weights) is copied; the classifier keeps
 *   the target's fresh initialisation;
 * - grey source, RGB target: the first convolution's kernel is split over R, G, B by the BT.601 luma weights,
 *   so on any image the RGB network starts out computing exactly what the grey one computes on its luma;
 *   RGB source, grey target: the kernel is summed over R, G, B (a grey image seen as R = G = B).
 */
export function planInit(source: tf.LayersModel, target: tf.LayersModel, labelsDiffer: boolean): InitPlan | string {
  const sw = source.weights;
  const tw = target.weights;
  if (sw.length !== tw.length) return `its weights do not match (${sw.length} tensors, the run's model has ${tw.length})`;
  const layers = withWeights(target);
  const classifier = labelsDiffer ? layers.at(-1) : undefined;
  const stemKernel = layers[0]?.weights[0];
  const fresh = target.getWeights();
  const weights: tf.Tensor[] = [];
  const created: tf.Tensor[] = [];
  const adaptations: string[] = [];
  for (let i = 0; i < tw.length; i++) {
    const [s, t] = [sw[i].read(), tw[i]];
    if (classifier?.weights.includes(t)) {
      weights.push(fresh[i]);
    } else if (s.shape.join() === t.shape.join()) {
      weights.push(s);
    } else if (t === stemKernel && s.rank === 4 && [0, 1, 3].every((d) => s.shape[d] === t.shape[d]) && [s.shape[2], t.shape[2]].sort().join() === '1,3') {
      const toRgb = s.shape[2] === 1;
      const adapted = tf.tidy(() =>
        toRgb
          ? tf.concat(
              LUMA_WEIGHTS.map((w) => s.mul(w)),
              2,
            )
          : s.sum(2, true),
      );
      weights.push(adapted);
      created.push(adapted);
      adaptations.push(`first convolution ${toRgb ? 'grey -> RGB (kernel split by the BT.601 luma weights)' : 'RGB -> grey (kernel summed over R, G, B)'}`);
    } else {
      tf.dispose(created);
      return `its weight ${sw[i].name} has shape [${s.shape}], the run's model needs [${t.shape}]`;
    }
  }
  if (classifier) adaptations.push(`classifier ${classifier.name} starts fresh (other labels)`);
  return { weights, created, adaptations };
}

/**
 * Start `model` from a trained model's weights (--init): the same architecture; other labels, another input
 * size or the other colour mode are adapted (see planInit). Mismatches are UserErrors naming the model.
 */
export async function initFrom(model: tf.LayersModel, o: TrainOptions, labels: string[], log: (line: string) => void): Promise<void> {
  const src = await loadModel(o.init!);
  try {
    const m = src.meta;
    if (m.arch !== undefined && m.arch !== o.arch)
      throw new UserError(`initial model "${o.init}": architecture ${m.arch} differs from the run's ${o.arch}`, { reason: 'init-mismatch' });
    const plan = planInit(src.model, model, m.labels.join() !== labels.join());
    if (typeof plan === 'string') {
      throw new UserError(
        `initial model "${o.init}" (${m.inputSize}x${m.inputSize}x${m.channels}, ${m.labels.length} classes) cannot start this ${o.inputSize}x${o.inputSize}x${o.channels} ${o.arch} run: ${plan}`,
        { reason: 'init-mismatch' },
      );
    }
    model.setWeights(plan.weights);
    tf.dispose(plan.created);
    const what = plan.adaptations.length > 0 ? `adapted: ${plan.adaptations.join('; ')}` : 'copied as they are';
    log(`--init ${o.init} (${m.labels.join(', ')}; ${m.inputSize}x${m.inputSize}x${m.channels}): weights ${what}`);
  } finally {
    src.model.dispose();
  }
}
