/**
 * `facecls eval detect`: run a face detector over a labelled photo set (WIDER FACE, FDDB; see
 * ./detection.ts for the protocol) and report AP per subset, precision/recall at the operating
 * threshold, a precision-recall chart and the detection time per image.
 */
import { decodeImage } from '../data/decode.js';
import type { RawImage } from '../data/preprocess.js';
import { errorMessage } from '../errors.js';
import { lineChartSvg, svgToPng } from '../train/plot.js';
import { evaluateDetections, loadDetectionSet, precisionAtRecall, type DetectionFormat, type ScoredBox, type SubsetResult } from './detection.js';

export interface DetectEvalOptions {
  data: string;
  format?: DetectionFormat;
  /** Detector name for the report. */
  detector: string;
  /** Settings shown in the report (threshold, tiles, ...). */
  settings?: Record<string, unknown>;
  /** Detections of one image, scored down to the curve's lowest score. */
  detect: (img: RawImage) => Promise<ScoredBox[]>;
  /** Operating threshold: precision and recall are reported at it. */
  threshold: number;
  iouThreshold?: number;
  /** Only n evenly spaced images (quick checks). */
  limit?: number;
  /** Precision is also reported at this recall (e.g. FDDB's 0.818). */
  atRecall?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DetectEvalReport {
  data: string;
  format: DetectionFormat;
  detector: string;
  settings: Record<string, unknown>;
  images: number;
  faces: number;
  iouThreshold: number;
  threshold: number;
  /** Detection only (decoding excluded): mean and median milliseconds per image. */
  msPerImage: { mean: number; median: number };
  subsets: Array<SubsetResult & { precisionAtRecall?: { recall: number; precision: number } }>;
  skipped: Array<{ id: string; reason: string }>;
  /** Per image: detections at or above the threshold and the image's faces (for photo-by-photo comparisons). */
  perImage: Array<{ id: string; faces: number; detections: ScoredBox[] }>;
}

/** Evenly spaced indices: n of `total` (all when n >= total). */
export function evenlySpaced(total: number, n?: number): number[] {
  if (n === undefined || n >= total) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => Math.floor((i * total) / n));
}

export async function runDetectionEval(o: DetectEvalOptions): Promise<DetectEvalReport> {
  const full = loadDetectionSet(o.data, o.format);
  const set = { ...full, images: evenlySpaced(full.images.length, o.limit).map((i) => full.images[i]) };
  const dets: ScoredBox[][] = [];
  const times: number[] = [];
  const skipped: Array<{ id: string; reason: string }> = [];
  const kept: typeof set.images = [];
  for (const [k, img] of set.images.entries()) {
    let raw: RawImage;
    try {
      raw = await decodeImage(img.file);
    } catch (err) {
      skipped.push({ id: img.id, reason: errorMessage(err) });
      o.onProgress?.(k + 1, set.images.length);
      continue;
    }
    const t0 = performance.now();
    const d = await o.detect(raw);
    times.push(performance.now() - t0);
    dets.push(d.map((x) => ({ box: x.box, score: x.score })));
    kept.push(img);
    o.onProgress?.(k + 1, set.images.length);
  }
  const evalSet = { ...set, images: kept };
  const iouThreshold = o.iouThreshold ?? 0.5;
  const subsets = evaluateDetections(evalSet, dets, { iouThreshold, threshold: o.threshold }).map((s) =>
    o.atRecall === undefined ? s : { ...s, precisionAtRecall: { recall: o.atRecall, precision: precisionAtRecall(s, o.atRecall) } },
  );
  const sorted = [...times].sort((a, b) => a - b);
  return {
    data: o.data,
    format: set.format,
    detector: o.detector,
    settings: o.settings ?? {},
    images: kept.length,
    faces: kept.reduce((a, img) => a + img.boxes.length, 0),
    iouThreshold,
    threshold: o.threshold,
    msPerImage: { mean: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length), median: sorted[Math.floor(sorted.length / 2)] ?? 0 },
    subsets,
    skipped,
    perImage: kept.map((img, i) => ({ id: img.id, faces: img.boxes.length, detections: dets[i].filter((d) => d.score >= o.threshold) })),
  };
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/** Precision-recall curves (x = recall, y = precision), one line per subset and report. */
export async function prCurvePng(reports: DetectEvalReport[], title?: string): Promise<Buffer> {
  const series = reports.flatMap((r, ri) =>
    r.subsets.map((s, si) => ({
      name: `${reports.length > 1 ? `${r.detector} ` : ''}${s.subset} ${s.ap.toFixed(3)}`,
      color: COLOURS[(ri * r.subsets.length + si) % COLOURS.length],
      points: s.curve.map((p) => [p.recall, p.precision] as [number, number]),
    })),
  );
  const t = title ?? `${reports.map((r) => r.detector).join(' vs ')} on ${reports[0]?.format ?? ''}: precision (y) vs recall, AP in the legend`;
  return svgToPng(lineChartSvg(t, 'recall', series, 860, 480));
}
