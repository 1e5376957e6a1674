/**
 * The paper's detector: OpenCV's frontal-face Haar cascade (scaleFactor 1.3, minNeighbors 5) through
 * @techstark/opencv-js, on a grey copy downscaled so its longer side is at most `detectSize` pixels.
 * The cascade XML ships in assets/haarcascades with its licence.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../data/paths.js';
import type { RawImage } from '../data/preprocess.js';
import { finishDetections, nms } from './nms.js';
import type { DetectOptions, Detection, Detector } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- opencv-js is an untyped emscripten module */
type Cv = any;

let cvPromise: Promise<Cv> | undefined;

/** Load opencv-js once. Its module object has a `then` that makes `await` spin: drop it when ready. */
export function loadOpenCv(): Promise<Cv> {
  cvPromise ??= (async () => {
    const mod = (await import('@techstark/opencv-js')) as { default: Cv };
    const cv = mod.default;
    await new Promise<void>((resolve) => {
      if (cv.Mat && cv.calledRun !== false && typeof cv.CascadeClassifier === 'function') {
        delete cv.then;
        resolve();
        return;
      }
      cv.onRuntimeInitialized = () => {
        delete cv.then;
        resolve();
      };
    });
    return cv;
  })();
  return cvPromise;
}

export const HAAR_DEFAULTS = { scaleFactor: 1.3, minNeighbors: 5, detectSize: 640 };

export interface HaarOptions {
  scaleFactor?: number;
  minNeighbors?: number;
  /** Longer side of the downscaled grey copy the cascade runs on. */
  detectSize?: number;
  cascadeFile?: string;
}

export function haarCascadeFile(): string {
  return path.join(projectRoot(), 'assets', 'haarcascades', 'haarcascade_frontalface_default.xml');
}

let cascadeSeq = 0;

export class HaarDetector implements Detector {
  readonly name = 'haar' as const;
  private constructor(
    private readonly cv: Cv,
    private readonly cascade: Cv,
    private readonly opts: Required<Omit<HaarOptions, 'cascadeFile'>>,
  ) {}

  static async load(opts: HaarOptions = {}): Promise<HaarDetector> {
    const cv = await loadOpenCv();
    const file = opts.cascadeFile ?? haarCascadeFile();
    const xml = fs.readFileSync(file);
    // The cascade is read from opencv's in-memory file system.
    const name = `cascade-${process.pid}-${++cascadeSeq}.xml`;
    cv.FS_createDataFile('/', name, xml, true, false, false);
    const cascade = new cv.CascadeClassifier();
    const ok = cascade.load(name);
    cv.FS_unlink('/' + name);
    if (!ok) {
      cascade.delete();
      throw new Error(`cannot load Haar cascade ${file}`);
    }
    return new HaarDetector(cv, cascade, { ...HAAR_DEFAULTS, ...stripUndefined(opts) });
  }

  async detect(img: RawImage, opts: DetectOptions = {}): Promise<Detection[]> {
    const cv = this.cv;
    const type = img.channels === 1 ? cv.CV_8UC1 : img.channels === 3 ? cv.CV_8UC3 : cv.CV_8UC4;
    const src = new cv.Mat(img.height, img.width, type);
    const grey = new cv.Mat();
    const small = new cv.Mat();
    const faces = new cv.RectVector();
    try {
      src.data.set(img.data.subarray(0, img.width * img.height * img.channels));
      if (img.channels === 1) src.copyTo(grey);
      else cv.cvtColor(src, grey, img.channels === 3 ? cv.COLOR_RGB2GRAY : cv.COLOR_RGBA2GRAY);
      const scale = Math.min(1, this.opts.detectSize / Math.max(img.width, img.height));
      let target = grey;
      if (scale < 1) {
        cv.resize(grey, small, new cv.Size(Math.round(img.width * scale), Math.round(img.height * scale)), 0, 0, cv.INTER_AREA);
        target = small;
      }
      const minSide = Math.max(0, Math.floor((opts.minFaceSize ?? 0) * scale));
      this.cascade.detectMultiScale(target, faces, this.opts.scaleFactor, this.opts.minNeighbors, 0, new cv.Size(minSide, minSide), new cv.Size(0, 0));
      const out: Detection[] = [];
      for (let i = 0; i < faces.size(); i++) {
        const r = faces.get(i);
        out.push({ box: [r.x / scale, r.y / scale, r.width / scale, r.height / scale], score: 1 });
      }
      // The cascade groups its own hits; NMS only removes nested leftovers.
      const kept = nms(out, opts.iouThreshold ?? 0.3);
      return finishDetections(kept, img.width, img.height, opts.minFaceSize, opts.maxFaces);
    } finally {
      src.delete();
      grey.delete();
      small.delete();
      faces.delete();
    }
  }

  dispose(): void {
    this.cascade.delete();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
