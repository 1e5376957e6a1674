/**
 * BrowserFaceClassifier: the facecls pipeline in a page. Models come over HTTP (the shipped
 * models/<task>/model.json and assets/blazeface/model.json, or any URLs); detection is the project's
 * BlazeFace decoder, classification the core's step (crop rule, the one preprocessing, the runtime
 * with the model's TTA), saliency src/viz's on the very crops and predictions classification used.
 */
import * as tf from '@tensorflow/tfjs';
import type { RawImage } from '../data/preprocess.js';
import { BlazeFaceCore } from '../detect/blazeface-core.js';
import type { DetectOptions, TileMode } from '../detect/types.js';
import { classifyDetections, classifierTasks, toFaceResult, type ClassifiedFaces, type Classifiers } from '../core/classify.js';
import type { CropRule } from '../core/crop.js';
import type { ClassifierTask, SaliencyMethod } from '../core/types.js';
import { modelMeta } from '../io/model-meta.js';
import { LayersRuntime } from '../runtime/layers.js';
import type { Tta } from '../runtime/tta.js';
import { explainFaces, type ExplainedFace, type ExplainOptions } from '../viz/explain-faces.js';
import { setupBrowserBackend, type BrowserBackend } from './backend.js';

export interface BrowserLoadOptions {
  /**
   * Where the package's files are served (the folder holding models/ and assets/). Default: the
   * package root as seen from this module (dist/browser/facecls.js -> ../../).
   */
  baseUrl?: string | URL;
  /** model.json URL of each classifier, or false to skip the task. Default `<baseUrl>models/<task>/model.json`. */
  emotionModel?: string | false;
  genderModel?: string | false;
  ageModel?: string | false;
  /** BlazeFace graph model.json URL. Default `<baseUrl>assets/blazeface/model.json`. */
  detectorModel?: string;
  /** tfjs backend: wasm (default), webgl or cpu. */
  backend?: string;
  /** URL prefix of the tfjs-backend-wasm*.wasm files. Default: beside this module (the build copies them there). */
  wasmPaths?: string;
  /** Test-time augmentation: default each model's own (flip for the shipped models). */
  tta?: Tta;
  /** Level the eyes before classifying (default true, as everywhere). */
  align?: boolean;
  /** Margin around the detector box overriding the model cards'. */
  cropMargin?: number;
}

export interface BrowserClassifyOptions {
  /** BlazeFace tiles for small faces: 'auto' (default), true, false ('dense' for crowds). */
  tiles?: TileMode;
  minFaceSize?: number;
  scoreThreshold?: number;
  maxFaces?: number;
}

/** Faces of one image with what each classifier saw, and the time spent (ms). */
export interface BrowserResult extends ClassifiedFaces {
  width: number;
  height: number;
  times: { detect: number; classify: number };
}

function defaultBase(): URL {
  return new URL('../../', import.meta.url);
}

async function loadClassifier(url: string, tta: Tta | undefined): Promise<LayersRuntime> {
  const model = await tf.loadLayersModel(url);
  try {
    return new LayersRuntime({ model, meta: modelMeta(model, `model ${url}`) }, tta);
  } catch (err) {
    model.dispose();
    throw err;
  }
}

export class BrowserFaceClassifier {
  private constructor(
    readonly detector: BlazeFaceCore,
    readonly models: Classifiers & { emotion?: LayersRuntime; gender?: LayersRuntime; age?: LayersRuntime },
    readonly backend: BrowserBackend,
    private readonly rule: CropRule,
  ) {}

  /** Set up tfjs and load the detector and the classifiers over HTTP. */
  static async load(opts: BrowserLoadOptions = {}): Promise<BrowserFaceClassifier> {
    const base = new URL(String(opts.baseUrl ?? defaultBase()), typeof location !== 'undefined' ? location.href : undefined);
    const backend = await setupBrowserBackend(opts.backend, opts.wasmPaths ?? new URL('./', import.meta.url).href);
    const url = (given: string | false | undefined, rel: string) => (given === false ? undefined : new URL(given ?? rel, base).href);
    const [emotionUrl, genderUrl, ageUrl] = [
      url(opts.emotionModel, 'models/emotion/model.json'),
      url(opts.genderModel, 'models/gender/model.json'),
      url(opts.ageModel, 'models/age/model.json'),
    ];
    const detector = BlazeFaceCore.fromGraphModel(await tf.loadGraphModel(url(opts.detectorModel, 'assets/blazeface/model.json')!));
    const models = {
      emotion: emotionUrl ? await loadClassifier(emotionUrl, opts.tta) : undefined,
      gender: genderUrl ? await loadClassifier(genderUrl, opts.tta) : undefined,
      age: ageUrl ? await loadClassifier(ageUrl, opts.tta) : undefined,
    };
    return new BrowserFaceClassifier(detector, models, backend, { detector: 'blazeface', align: opts.align, cropMargin: opts.cropMargin });
  }

  /** The tasks loaded (emotion, gender, age). */
  get tasks(): ClassifierTask[] {
    return classifierTasks(this.models);
  }

  /** Every face of an image: boxes, keypoints, emotion, gender and age, with the crops and model input of each task. */
  async classify(img: RawImage, opts: BrowserClassifyOptions = {}): Promise<BrowserResult> {
    const t0 = performance.now();
    const detectOpts: DetectOptions = { tiles: opts.tiles, minFaceSize: opts.minFaceSize, scoreThreshold: opts.scoreThreshold, maxFaces: opts.maxFaces };
    const dets = await this.detector.detect(img, detectOpts);
    const t1 = performance.now();
    const r = await classifyDetections(img, dets, this.models, this.rule);
    return { ...r, width: img.width, height: img.height, times: { detect: t1 - t0, classify: performance.now() - t1 } };
  }

  /** Faces without classes (boxes, scores, keypoints). */
  async detect(img: RawImage, opts: BrowserClassifyOptions = {}): Promise<ClassifiedFaces> {
    return { faces: (await this.detector.detect(img, opts)).map(toFaceResult), inputs: {} };
  }

  /**
   * Saliency maps of a classification's faces (default task emotion): on the crops the classifier saw,
   * explaining the class it predicted (age: the estimate) unless `className` says otherwise. Each map carries its crop box
   * and angle, ready for renderFrame's `maps`.
   */
  explain(
    img: RawImage,
    result: ClassifiedFaces,
    opts: Omit<ExplainOptions, 'predicted' | 'batch' | 'method'> & { method?: SaliencyMethod; task?: ClassifierTask } = {},
  ): ExplainedFace[] {
    const task = opts.task ?? 'emotion';
    const rt = this.models[task];
    const input = result.inputs[task];
    if (!rt || !input || result.faces.length === 0) return [];
    const predicted = result.faces.map((f) => f[task]);
    return explainFaces(rt.model, rt.meta, img, input.crops, { ...opts, method: opts.method ?? 'guided', batch: input.batch, predicted });
  }

  dispose(): void {
    this.detector.dispose();
    void this.models.emotion?.dispose();
    void this.models.gender?.dispose();
    void this.models.age?.dispose();
  }
}
