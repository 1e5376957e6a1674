/**
 * The production ServerPipeline: the project's FaceClassifier (detector + emotion + gender, loaded
 * once), its annotation renderer, and saliency maps from src/viz on the same models and crops.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawImage } from '../data/preprocess.js';
import { blazefaceAssetDir } from '../detect/blazeface.js';
import { UserError } from '../errors.js';
import { FaceClassifier, type FaceClassifierOptions } from '../pipeline/face-classifier.js';
import { annotatePng } from '../pipeline/annotate.js';
import { TfjsRuntime } from '../runtime/tfjs.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { explainedPanel, explainFaces } from '../viz/explain.js';
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
    /** tfjs copies of the classifiers for saliency (gradients), when they run on another runtime. */
    private readonly gradModels: { emotion?: TfjsRuntime; gender?: TfjsRuntime },
  ) {}

  /** Load the classifier once (default models/emotion + models/gender and the default detector). */
  static async load(opts: FaceClassifierOptions = {}): Promise<FacePipeline> {
    const fc = await FaceClassifier.load(opts);
    const { dirs } = fc;
    const grad = async (rt: InferenceRuntime | undefined, dir: string | undefined) =>
      rt instanceof TfjsRuntime ? rt : rt && dir ? TfjsRuntime.load(dir) : undefined;
    return new FacePipeline(fc, { emotion: await grad(fc.emotion, dirs.emotion), gender: await grad(fc.gender, dirs.gender) });
  }

  get detectorName(): string {
    return this.fc.detector.name;
  }

  async classify(image: RawImage, opts: ClassifyOptions = {}): Promise<ClassifyResult> {
    const r = await this.fc.classifyTimed(image, { crop: opts.crops === true, detectOnly: opts.detectOnly === true });
    // Per-request minimum face size, same rule as the detectors' own option (longer side).
    const min = opts.minFaceSize ?? 0;
    const faces = min > 0 ? r.faces.filter((f) => Math.max(f.box[2], f.box[3]) >= min) : r.faces;
    return { width: r.width, height: r.height, faces: faces as ClassifyResult['faces'] };
  }

  annotate(image: RawImage, result: ClassifyResult): Promise<Buffer> {
    return annotatePng(image, result.faces);
  }

  async saliency(image: RawImage, result: ClassifyResult, opts: SaliencyOptions): Promise<Buffer> {
    const rt = this.gradModels[opts.task];
    if (!rt) throw new UserError(`no ${opts.task} model is loaded`);
    // Same crops as classification: detector box grown by the classifier's margin (src/viz/explain).
    const boxes = result.faces.map((f) => this.fc.cropBox(f.box, this.fc[opts.task]));
    const faces = explainFaces(rt.model, rt.meta, image, boxes, { method: opts.method, className: opts.className });
    return explainedPanel(image, faces, rt.meta, opts.method, { emptyText: 'no faces found (use ?crops=true if the image is a face crop)' });
  }

  models(): ServedModel[] {
    const out: ServedModel[] = [];
    for (const [role, rt] of [
      ['emotion', this.fc.emotion],
      ['gender', this.fc.gender],
    ] as const) {
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
    for (const task of ['emotion', 'gender'] as const) {
      const g = this.gradModels[task];
      if (g && g !== this.fc[task]) await g.dispose();
    }
    await this.fc.dispose();
  }
}

function readLicence(dir: string): string | undefined {
  const f = path.join(dir, 'LICENSE');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined;
}
