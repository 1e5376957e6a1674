/** Box geometry shared by the detectors, the tracker and the benchmark. */
import type { Box } from '../data/preprocess.js';
import type { Detection } from './types.js';

export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression. With `weighted`, each kept box becomes the score-weighted
 * mean of the boxes it suppresses (BlazeFace's "weighted NMS"), which steadies boxes between frames.
 */
export function nms(dets: Detection[], iouThreshold: number, maxOut = Infinity, weighted = false): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const used = new Uint8Array(sorted.length);
  const out: Detection[] = [];
  for (let i = 0; i < sorted.length && out.length < maxOut; i++) {
    if (used[i]) continue;
    used[i] = 1;
    const best = sorted[i];
    let acc: Box = [best.box[0] * best.score, best.box[1] * best.score, best.box[2] * best.score, best.box[3] * best.score];
    let wsum = best.score;
    for (let j = i + 1; j < sorted.length; j++) {
      if (used[j] || iou(best.box, sorted[j].box) <= iouThreshold) continue;
      used[j] = 1;
      if (weighted) {
        const s = sorted[j].score;
        acc = [acc[0] + sorted[j].box[0] * s, acc[1] + sorted[j].box[1] * s, acc[2] + sorted[j].box[2] * s, acc[3] + sorted[j].box[3] * s];
        wsum += s;
      }
    }
    out.push(weighted ? { box: [acc[0] / wsum, acc[1] / wsum, acc[2] / wsum, acc[3] / wsum], score: best.score } : best);
  }
  return out;
}

/** Clip to the image, drop boxes that vanish or are smaller than minFaceSize, best first, at most maxFaces. */
export function finishDetections(dets: Detection[], width: number, height: number, minFaceSize = 0, maxFaces = Infinity): Detection[] {
  const out: Detection[] = [];
  for (const d of dets) {
    const x0 = Math.max(0, d.box[0]);
    const y0 = Math.max(0, d.box[1]);
    const x1 = Math.min(width, d.box[0] + d.box[2]);
    const y1 = Math.min(height, d.box[1] + d.box[3]);
    if (x1 - x0 < 1 || y1 - y0 < 1) continue;
    if (Math.max(d.box[2], d.box[3]) < minFaceSize) continue;
    out.push({ box: [round2(x0), round2(y0), round2(x1 - x0), round2(y1 - y0)], score: round4(d.score) });
  }
  out.sort((a, b) => b.score - a.score);
  return out.slice(0, maxFaces);
}

const round2 = (v: number) => Math.round(v * 100) / 100;
const round4 = (v: number) => Math.round(v * 10000) / 10000;
