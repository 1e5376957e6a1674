/**
 * BlazeFace (MediaPipe "back" variant, 256x256) loaded from assets/blazeface with our own tfjs code:
 * the frame is letterboxed onto a square and downscaled to 256x256 (area filter, RGB, [-1, 1]), the two heads (16x16x2 and 8x8x6 anchors) are decoded here, then weighted NMS.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { RawImage } from '../data/preprocess.js';
import { projectRoot } from '../data/paths.js';
import { fileSystem } from '../io/fs-handler.js';
import { finishDetections, nms } from './nms.js';
import { letterboxRgb } from './resize.js';
import type { DetectOptions, Detection, Detector } from './types.js';

export const BLAZEFACE_INPUT = 256;
/** Defaults tuned on the composed UTKFace set (bench/pipeline.ts): best F1 with precision >= 95%. */
export const BLAZEFACE_DEFAULTS = { scoreThreshold: 0.6, iouThreshold: 0.3 };

/** Anchor centres in input pixels: stride 16 (16x16 grid, 2 per cell), then stride 32 (8x8, 6 per cell). */
function anchors(size: number): Float32Array {
  const out: number[] = [];
  for (const [stride, perCell] of [
    [size / 16, 2],
    [size / 8, 6],
  ]) {
    const grid = Math.ceil(size / stride);
    for (let gy = 0; gy < grid; gy++) {
      for (let gx = 0; gx < grid; gx++) {
        for (let k = 0; k < perCell; k++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  return Float32Array.from(out);
}

export function blazefaceAssetDir(): string {
  return path.join(projectRoot(), 'assets', 'blazeface');
}

export class BlazeFaceDetector implements Detector {
  readonly name = 'blazeface' as const;
  private readonly anchors = anchors(BLAZEFACE_INPUT);
  private readonly input = new Float32Array(BLAZEFACE_INPUT * BLAZEFACE_INPUT * 3);

  private constructor(private readonly model: tf.GraphModel) {}

  static async load(dir = blazefaceAssetDir()): Promise<BlazeFaceDetector> {
    const model = await tf.loadGraphModel(fileSystem(dir));
    return new BlazeFaceDetector(model);
  }

  async detect(img: RawImage, opts: DetectOptions = {}): Promise<Detection[]> {
    const size = BLAZEFACE_INPUT;
    const { side, x0: ox, y0: oy } = letterboxRgb(img, size, this.input);
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(this.input, [1, size, size, 3]);
      const [s512, s384, r512, r384] = this.model.execute(x, ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0']) as tf.Tensor[];
      return [tf.concat([s512, s384], 1), tf.concat([r512, r384], 1)];
    });
    const [scores, regs] = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
    tf.dispose(outs);
    const threshold = opts.scoreThreshold ?? BLAZEFACE_DEFAULTS.scoreThreshold;
    const logit = Math.log(threshold / (1 - threshold));
    const scale = side / size;
    const cands: Detection[] = [];
    for (let i = 0; i < scores.length; i++) {
      if (!(scores[i] > logit)) continue;
      const r = i * 16;
      const cx = this.anchors[2 * i] + regs[r];
      const cy = this.anchors[2 * i + 1] + regs[r + 1];
      const w = regs[r + 2];
      const h = regs[r + 3];
      if (!(w > 0 && h > 0)) continue;
      cands.push({
        box: [ox + (cx - w / 2) * scale, oy + (cy - h / 2) * scale, w * scale, h * scale],
        score: 1 / (1 + Math.exp(-scores[i])),
      });
    }
    const kept = nms(cands, opts.iouThreshold ?? BLAZEFACE_DEFAULTS.iouThreshold, Infinity, true);
    return finishDetections(kept, img.width, img.height, opts.minFaceSize, opts.maxFaces);
  }

  dispose(): void {
    this.model.dispose();
  }
}
