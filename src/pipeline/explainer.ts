/**
 * Saliency that tells what classification tells: the faces a FaceClassifier finds, cut by its crop
 * rule (the same crops, eyes levelled, as `facecls classify`), with the class explained and reported
 * being the classifier's prediction (the runtime's output with the model's test-time augmentation);
 * for the age task, the map explains the age estimate classification reports (its expectation over
 * the anchor ages) unless a class (anchor) is asked for.
 * Used by `facecls saliency`, `facecls video --saliency` and the server's POST /v1/saliency.
 *
 * Gradients need a tfjs model: the classifier's own when it runs on tfjs, else a tfjs copy loaded
 * from the same model directory.
 */
import type { RawImage } from '../data/preprocess.js';
import type { ClassifierTask, FaceResult } from '../core/types.js';
import { UserError } from '../errors.js';
import { LayersRuntime, TfjsRuntime } from '../runtime/tfjs.js';
import { explainFaces, type ExplainedFace, type ExplainOptions } from '../viz/explain-faces.js';
import { releaseSaliency } from '../viz/saliency.js';
import type { FaceClassifier } from './face-classifier.js';

/** What to explain: the method and, optionally, a class other than the predicted one. */
export type ExplainRequest = Omit<ExplainOptions, 'predicted' | 'batch'>;

export class Explainer {
  private constructor(
    readonly fc: FaceClassifier,
    readonly task: ClassifierTask,
    /** The tfjs model the gradients run through. */
    readonly grad: LayersRuntime,
    private readonly ownsGrad: boolean,
  ) {}

  /** Saliency for the classifier's `task` model (which must be loaded). */
  static async load(fc: FaceClassifier, task: ClassifierTask): Promise<Explainer> {
    const rt = fc[task];
    const dir = fc.dirs[task];
    if (!rt || !dir) throw new UserError(`saliency of the ${task} task needs the ${task} model, which is not loaded`);
    if (rt instanceof LayersRuntime) return new Explainer(fc, task, rt, false);
    return new Explainer(fc, task, await TfjsRuntime.load(dir), true);
  }

  /**
   * Find and classify the faces of an image (`crop`: the image is a face crop) and explain each one:
   * the crops, model input and predictions are those of classification.
   */
  async explainImage(img: RawImage, opts: ExplainRequest & { crop?: boolean }): Promise<{ faces: FaceResult[]; explained: ExplainedFace[] }> {
    const { dets, asGiven } = await this.fc.findFaces(img, opts.crop === true);
    const r = await this.fc.classifyDetections(img, dets, asGiven);
    const input = r.inputs[this.task];
    if (!input) return { faces: r.faces, explained: [] };
    const predicted = r.faces.map((f) => f[this.task]);
    return { faces: r.faces, explained: explainFaces(this.grad.model, this.grad.meta, img, input.crops, { ...opts, batch: input.batch, predicted }) };
  }

  /**
   * Explain faces this classifier already classified in `img`: the same crops (the crop rule, or the
   * face as given when classification used it so: `asGiven` from classifyTimed), their predictions.
   */
  explainResults(img: RawImage, faces: readonly FaceResult[], opts: ExplainRequest, asGiven = false): ExplainedFace[] {
    const crops = this.fc.crops(faces, this.task, asGiven);
    return explainFaces(this.grad.model, this.grad.meta, img, crops, { ...opts, predicted: faces.map((f) => f[this.task]) });
  }

  async dispose(): Promise<void> {
    releaseSaliency(this.grad.model);
    if (this.ownsGrad) await this.grad.dispose();
  }
}
