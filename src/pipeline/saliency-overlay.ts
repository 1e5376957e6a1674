/**
 * Saliency heat maps on video frames (`facecls video --saliency`), with the same code as
 * `facecls saliency` and the server: the Explainer (./explainer.ts: the classifier's own crop of each
 * face, one batched pass) and blendSaliency (the map over the face's crop). The map explains the class
 * (age: the estimate) the frame's annotation shows for that face; the annotation is drawn on top afterwards.
 */
import type { ClassifierTask } from '../core/types.js';
import type { RawImage } from '../data/preprocess.js';
import { UserError } from '../errors.js';
import type { ColormapName } from '../viz/colormap.js';
import { blendSaliency } from '../viz/overlay.js';
import type { SaliencyMethod } from '../viz/saliency.js';
import { Explainer } from './explainer.js';
import type { FaceClassifier } from './face-classifier.js';
import type { FaceResult } from './types.js';

export type SaliencyTask = ClassifierTask;

export interface SaliencyOverlayOptions {
  task: SaliencyTask;
  method: SaliencyMethod;
  colormap?: ColormapName;
  /** Opacity where the map is 1. Default: blendSaliency's. */
  opacity?: number;
}

export class SaliencyOverlay {
  private constructor(
    private readonly explainer: Explainer,
    private readonly opts: SaliencyOverlayOptions,
  ) {}

  /**
   * Set up saliency for the classifier's `task` model and run it once on a blank crop, so a backend
   * without the gradient kernels fails here, before any frame is read or written.
   */
  static async load(fc: FaceClassifier, opts: SaliencyOverlayOptions): Promise<SaliencyOverlay> {
    if (!fc[opts.task]) throw new UserError(`saliency of the ${opts.task} task needs the ${opts.task} model, which is not loaded`, { reason: 'task-disabled' });
    const overlay = new SaliencyOverlay(await Explainer.load(fc, opts.task), opts);
    try {
      const size = overlay.explainer.grad.meta.inputSize;
      overlay.explain({ data: new Uint8Array(size * size * 3).fill(128), width: size, height: size, channels: 3 }, [{ box: [0, 0, size, size], score: 1 }]);
    } catch (err) {
      await overlay.dispose();
      throw err;
    }
    return overlay;
  }

  get task(): SaliencyTask {
    return this.opts.task;
  }

  /** The frame with every face's map blended into its crop (a copy; the input is left as is). */
  apply(image: RawImage, faces: FaceResult[]): RawImage {
    if (faces.length === 0) return image;
    if (image.channels === 1) throw new Error('saliency overlay needs an RGB or RGBA frame');
    const maps = this.explain(image, faces);
    const out = { width: image.width, height: image.height, channels: image.channels, data: new Uint8Array(image.data) };
    blendSaliency(out, maps, { colormap: this.opts.colormap, opacity: this.opts.opacity });
    return out;
  }

  /** Maps of the shown class of each face, on the crop the classifier saw (the crop rule: box, margin, eye levelling). */
  private explain(image: RawImage, faces: FaceResult[]) {
    return this.explainer.explainResults(image, faces, { method: this.opts.method });
  }

  async dispose(): Promise<void> {
    await this.explainer.dispose();
  }
}
