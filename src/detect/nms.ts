/** Box geometry shared by the detectors, the tracker and the benchmark. */
import type { Box } from '../data/preprocess.js';
import { KEYPOINT_NAMES, type Detection, type Keypoints } from './types.js';

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
 * Greedy non-maximum suppression. With `weighted`, each kept box (and its keypoints) becomes the
 * score-weighted mean of the boxes it suppresses that score at least `blendMin` (BlazeFace's
 * "weighted NMS"), which steadies boxes between frames.
 */
export function nms(dets: Detection[], iouThreshold: number, maxOut = Infinity, weighted = false, blendMin = 0): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const used = new Uint8Array(sorted.length);
  const out: Detection[] = [];
  for (let i = 0; i < sorted.length && out.length < maxOut; i++) {
    if (used[i]) continue;
    used[i] = 1;
    const best = sorted[i];
    const group: Detection[] = [best];
    for (let j = i + 1; j < sorted.length; j++) {
      if (used[j] || iou(best.box, sorted[j].box) <= iouThreshold) continue;
      used[j] = 1;
      group.push(sorted[j]);
    }
    // Only boxes scoring at least min(blendMin, best.score) are averaged (the others are just suppressed).
    const blend = group.filter((d) => d.score >= Math.min(blendMin, best.score));
    out.push(weighted && blend.length > 1 ? weightedMean(blend) : best);
  }
  return out;
}

/** Score-weighted mean of a group's boxes and keypoints (those that have them); the first one's score. */
function weightedMean(group: Detection[]): Detection {
  const box: Box = [0, 0, 0, 0];
  let wsum = 0;
  for (const d of group) {
    for (let k = 0; k < 4; k++) box[k] += d.box[k] * d.score;
    wsum += d.score;
  }
  const out: Detection = { box: box.map((v) => v / wsum) as Box, score: group[0].score };
  const withKp = group.filter((d) => d.keypoints);
  if (withKp.length > 0) {
    const kwsum = withKp.reduce((a, d) => a + d.score, 0);
    const kp = {} as Keypoints;
    for (const name of KEYPOINT_NAMES) {
      let x = 0;
      let y = 0;
      for (const d of withKp) {
        x += d.keypoints![name][0] * d.score;
        y += d.keypoints![name][1] * d.score;
      }
      kp[name] = [x / kwsum, y / kwsum];
    }
    out.keypoints = kp;
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
    const det: Detection = { box: [round2(x0), round2(y0), round2(x1 - x0), round2(y1 - y0)], score: round4(d.score) };
    if (d.keypoints) det.keypoints = Object.fromEntries(KEYPOINT_NAMES.map((n) => [n, [round2(d.keypoints![n][0]), round2(d.keypoints![n][1])]])) as Keypoints;
    out.push(det);
  }
  out.sort((a, b) => b.score - a.score);
  return out.slice(0, maxFaces);
}

const round2 = (v: number) => Math.round(v * 100) / 100;
const round4 = (v: number) => Math.round(v * 10000) / 10000;
