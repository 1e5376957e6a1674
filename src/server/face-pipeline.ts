/**
 * The production ServerPipeline: the project's FaceClassifier (detector + emotion + gender + age, loaded
 * once), its annotation renderer, and saliency maps from src/viz on the same models and crops.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawImage } from '../data/preprocess.js';
import { blazefaceAssetDir } from '../detect/blazeface.js';
import { CLASSIFIER_TASKS, type ClassifierTask } from '../core/types.js';
import { UserError } from '../errors.js';
import { FaceClassifier, type FaceClassifierOptions } from '../pipeline/face-classifier.js';
import { annotatePng } from '../pipeline/annotate.js';
import { TfjsRuntime } from '../runtime/tfjs.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { explainedPanel } from '../viz/explain.js';
import { Explainer } from '../pipeline/explainer.js';
import type { ClassifyOptions, ClassifyResult, SaliencyOptions, ServedModel, ServerPipeline } from './pipeline.js';

const CARD_FILES = ['MODEL_CARD.md', 'README.md', 'CARD.md'];

/** The model card text of a model directory, when it has one. */
export function readCard(dir: string): string | undefined {
  for (const name of CARD_FILES) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
  }
  return undefined;
}

function modelInfo(rt: InferenceRuntime): Record<string, unknown> {
  const info: Record<string, unknown> = { runtime: rt.name, tta: rt.tta };
  if (rt instanceof TfjsRuntime) info.params = rt.model.countParams();
  return info;
}

export class FacePipeline implements ServerPipeline {
  private constructor(
    readonly fc: FaceClassifier,
    /** Saliency of each loaded task, on the classifier's crops and predictions (src/pipeline/explainer.ts). */
    private readonly explainers: Partial<Record<ClassifierTask, Explainer>>,
  ) {}

  /** Load the classifier once (default models/emotion + models/gender + models/age and the default detector). */
  static async load(opts: FaceClassifierOptions = {}): Promise<FacePipeline> {
    const fc = await FaceClassifier.load(opts);
    const explainers: Partial<Record<ClassifierTask, Explainer>> = {};
    for (const task of CLASSIFIER_TASKS) if (fc[task]) explainers[task] = await Explainer.load(fc, task);
    return new FacePipeline(fc, explainers);
  }

  get detectorName(): string {
    return this.fc.detector.name;
  }

  async classify(image: RawImage, opts: ClassifyOptions = {}): Promise<ClassifyResult> {
    const tasks = opts.age === false ? CLASSIFIER_TASKS.filter((t) => t !== 'age') : undefined;
    const r = await this.fc.classifyTimed(image, { crop: opts.crops === true, detectOnly: opts.detectOnly === true, tasks });
    // Per-request minimum face size, same rule as the detectors' own option (longer side).
    const min = opts.minFaceSize ?? 0;
    const faces = min > 0 ? r.faces.filter((f) => Math.max(f.box[2], f.box[3]) >= min) : r.faces;
    return { width: r.width, height: r.height, faces: faces as ClassifyResult['faces'], ...(r.asGiven ? { asGiven: true } : {}) };
  }

  annotate(image: RawImage, result: ClassifyResult): Promise<Buffer> {
    return annotatePng(image, result.faces);
  }

  async saliency(image: RawImage, result: ClassifyResult, opts: SaliencyOptions): Promise<Buffer> {
    const explainer = this.explainers[opts.task];
    if (!explainer) throw new UserError(`no ${opts.task} model is loaded`);
    // Same crops and predictions as classification (the crop rule with eye levelling; the runtime's TTA).
    const faces = explainer.explainResults(image, result.faces, { method: opts.method, className: opts.className }, result.asGiven === true);
    return explainedPanel(image, faces, explainer.grad.meta, opts.method, { emptyText: 'no faces found (use ?crops=true if the image is a face crop)' });
  }

  models(): ServedModel[] {
    const out: ServedModel[] = [];
    for (const role of CLASSIFIER_TASKS) {
      const rt = this.fc[role];
      const dir = this.fc.dirs[role];
      if (!rt || !dir) continue;
      out.push({ role, dir, format: 'layers-model', meta: rt.meta, card: readCard(dir), info: { ...modelInfo(rt), cropMargin: this.fc.cropMargin(rt) } });
    }
    // The browser always detects with BlazeFace (a tfjs graph model), whatever the server uses.
    const det = blazefaceAssetDir();
    out.push({ role: 'detector', dir: det, format: 'graph-model', card: readCard(det) ?? readLicence(det), info: { name: 'blazeface', input: 256 } });
    return out;
  }

  async dispose(): Promise<void> {
    for (const e of Object.values(this.explainers)) await e.dispose();
    await this.fc.dispose();
  }
}

function readLicence(dir: string): string | undefined {
  const f = path.join(dir, 'LICENSE');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined;
}
