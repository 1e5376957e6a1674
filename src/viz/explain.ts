/**
 * Saliency for faces of an image: crop each box exactly as the classifiers do (preprocessFace),
 * explain all faces in one batched pass, and build the panel rows. Shared by `facecls saliency`,
 * `facecls video --saliency` and the server.
 */
import type * as tf from '@tensorflow/tfjs';
import { preprocessBatch, type Box, type RawImage } from '../data/preprocess.js';
import { METHOD_TITLES } from '../core/types.js';
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-store.js';
import { displayCrop, renderSaliencyPanel, type PanelFace, type PanelOptions } from './render.js';
import { saliencyMaps, type SaliencyMethod, type SaliencyOptions } from './saliency.js';

export interface ExplainedFace {
  /** Crop box in image pixels (already grown by the crop margin). */
  box: Box;
  classIndex: number;
  label: string;
  /** Probability of the explained class. */
  probability: number;
  /** Predicted (top-1) class and its probability. */
  predicted: { label: string; probability: number };
  probabilities: Record<string, number>;
  /** Map [size x size] in [0, 1] at the model input size. */
  map: Float32Array;
  size: number;
}

export interface ExplainOptions extends Omit<SaliencyOptions, 'classIndex'> {
  /**
   * Class to explain by label (case-insensitive) or index: one for all faces, or one per face (e.g.
   * the label a video annotation shows). Default: the predicted class of each face.
   */
  className?: string | readonly string[];
}

/** Resolve a class given by name or index against the model's labels. */
export function resolveClass(labels: string[], name: string): number {
  const byName = labels.findIndex((l) => l.toLowerCase() === name.trim().toLowerCase());
  if (byName >= 0) return byName;
  if (/^\d+$/.test(name.trim()) && Number(name) < labels.length) return Number(name);
  throw new UserError(`unknown class "${name}": the model's classes are ${labels.join(', ')}`);
}

export function explainFaces(model: tf.LayersModel, meta: ModelMeta, img: RawImage, boxes: Box[], opts: ExplainOptions): ExplainedFace[] {
  if (boxes.length === 0) return [];
  const size = meta.inputSize;
  const channels = meta.channels === 3 ? 3 : 1;
  const batch = preprocessBatch(img, boxes, { inputSize: size, channels });
  const { className } = opts;
  const classIndex =
    className === undefined ? undefined : typeof className === 'string' ? resolveClass(meta.labels, className) : className.map((c) => resolveClass(meta.labels, c));
  const r = saliencyMaps(model, batch, { method: opts.method, score: opts.score, camLayer: opts.camLayer, classIndex });
  return boxes.map((box, i) => {
    const p = r.probabilities[i];
    let top = 0;
    for (let k = 1; k < p.length; k++) if (p[k] > p[top]) top = k;
    const k = r.classIndex[i];
    return {
      box,
      classIndex: k,
      label: meta.labels[k],
      probability: p[k],
      predicted: { label: meta.labels[top], probability: p[top] },
      probabilities: Object.fromEntries(meta.labels.map((l, j) => [l, p[j]])),
      map: r.maps[i],
      size,
    };
  });
}

export { METHOD_TITLES };

/** PNG panel for explained faces of `img` (display crops re-cut from the image at cell size). */
export async function explainedPanel(
  img: RawImage,
  faces: ExplainedFace[],
  meta: ModelMeta,
  method: SaliencyMethod,
  opts: PanelOptions = {},
): Promise<Buffer> {
  const cell = opts.cell ?? 192;
  const rows: PanelFace[] = faces.map((f, i) => {
    const pred = f.predicted.label === f.label ? '' : `; predicted ${f.predicted.label} ${f.predicted.probability.toFixed(2)}`;
    return {
      crop: displayCrop(img, f.box, cell, meta.channels !== 3),
      map: f.map,
      mapWidth: f.size,
      mapHeight: f.size,
      caption: `face ${i + 1}: ${f.label} ${f.probability.toFixed(2)}${pred}`,
    };
  });
  return renderSaliencyPanel(rows, { ...opts, cell, columns: opts.columns ?? [`${meta.task} crop`, METHOD_TITLES[method], 'overlay'] });
}
