/**
 * Saliency heat maps on video frames (`facecls video --saliency`), with the same code as
 * `facecls saliency` and the server: src/viz explainFaces (the classifier's own crop of each face,
 * one batched pass) and blendSaliency (the map over the face's crop box). The map explains the class
 * the frame's annotation shows for that face; the annotation is drawn on top afterwards.
 *
 * Gradients need a tfjs model: the classifier's own when it runs on tfjs, else a tfjs copy loaded
 * from the same model directory.
 */
import type { RawImage } from '../data/preprocess.js';
import { UserError } from '../errors.js';
import { TfjsRuntime } from '../runtime/tfjs.js';
import type { ColormapName } from '../viz/colormap.js';
import { explainFaces } from '../viz/explain.js';
import { blendSaliency } from '../viz/overlay.js';
import { releaseSaliency, type SaliencyMethod } from '../viz/saliency.js';
import type { FaceClassifier } from './face-classifier.js';
import type { FaceResult } from './types.js';

export type SaliencyTask = 'emotion' | 'gender';

export interface SaliencyOverlayOptions {
  task: SaliencyTask;
  method: SaliencyMethod;
  /** Directory of the task's model (the one the classifier loaded). */
  modelDir: string;
  colormap?: ColormapName;
  /** Opacity where the map is 1. Default: blendSaliency's. */
  opacity?: number;
}

export class SaliencyOverlay {
  private constructor(
    private readonly fc: FaceClassifier,
    private readonly rt: TfjsRuntime,
    private readonly ownsModel: boolean,
    private readonly opts: SaliencyOverlayOptions,
  ) {}

  /**
   * Set up saliency for the classifier's `task` model and run it once on a blank crop, so a backend
   * without the gradient kernels fails here, before any frame is read or written.
   */
  static async load(fc: FaceClassifier, opts: SaliencyOverlayOptions): Promise<SaliencyOverlay> {
    const classifier = fc[opts.task];
    if (!classifier) throw new UserError(`--saliency-task ${opts.task} needs the ${opts.task} model: drop --no-${opts.task}`);
    const own = !(classifier instanceof TfjsRuntime);
    const rt = classifier instanceof TfjsRuntime ? classifier : await TfjsRuntime.load(opts.modelDir);
    const overlay = new SaliencyOverlay(fc, rt, own, opts);
    try {
      const size = rt.meta.inputSize;
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

  /** The frame with every face's map blended into its crop box (a copy; the input is left as is). */
  apply(image: RawImage, faces: FaceResult[]): RawImage {
    if (faces.length === 0) return image;
    if (image.channels === 1) throw new Error('saliency overlay needs an RGB or RGBA frame');
    const maps = this.explain(image, faces);
    const out = { width: image.width, height: image.height, channels: image.channels, data: new Uint8Array(image.data) };
    blendSaliency(out, maps, { colormap: this.opts.colormap, opacity: this.opts.opacity });
    return out;
  }

  /** Maps of the shown class of each face, on the crop the classifier saw (same box and margin). */
  private explain(image: RawImage, faces: FaceResult[]) {
    const boxes = faces.map((f) => this.fc.cropBox(f.box, this.fc[this.opts.task]));
    const labels = faces.map((f) => f[this.opts.task]?.label);
    const className = labels.every((l): l is string => l !== undefined) ? labels : undefined;
    return explainFaces(this.rt.model, this.rt.meta, image, boxes, { method: this.opts.method, className });
  }

  async dispose(): Promise<void> {
    releaseSaliency(this.rt.model);
    if (this.ownsModel) await this.rt.dispose();
  }
}
