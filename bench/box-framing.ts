/**
 * Where a detector's boxes sit on aligned face chips, which the classifier crop rule needs
 * (src/pipeline/face-classifier.ts DETECTOR_BOX_SCALE, DETECTOR_CROP_SHIFT): UTKFace chips pasted on
 * generated 640x480 frames (src/detect/labelled-set.ts, seeds 300000+, one face of 60-220 px), and
 * for each detected chip (IoU >= 0.3) the medians of the box's larger side / chip side and of its
 * centre's offset from the chip centre / chip side.
 *
 *   node dist/bench/box-framing.js [--frames 300] [--detector blazeface|haar] [--box-top 0.15]
 */
import { datasetPath } from '../src/data/paths.js';
import { BlazeFaceDetector } from '../src/detect/blazeface.js';
import { createDetector } from '../src/detect/index.js';
import { composeFrame, listUtkFaces } from '../src/detect/labelled-set.js';
import { iou } from '../src/detect/nms.js';
import type { Detector } from '../src/detect/types.js';
import { setupBackend } from '../src/engine/backend.js';
import { arg } from './args.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function measureFraming(detector: Detector, frames: number, opts: Record<string, unknown> = {}) {
  const chips = listUtkFaces(datasetPath('utkface'));
  const scale: number[] = [];
  const dx: number[] = [];
  const dy: number[] = [];
  for (let i = 0; i < frames; i++) {
    const f = await composeFrame(chips, { faces: 1, minSide: 60, maxSide: 220, seed: 300000 + i });
    const t = f.faces[0];
    const dets = await detector.detect(f.image, opts);
    const best = dets.map((d) => ({ d, o: iou(d.box, t) })).sort((a, b) => b.o - a.o)[0];
    if (!best || best.o < 0.3) continue;
    const b = best.d.box;
    scale.push(Math.max(b[2], b[3]) / t[2]);
    dx.push((b[0] + b[2] / 2 - (t[0] + t[2] / 2)) / t[2]);
    dy.push((b[1] + b[3] / 2 - (t[1] + t[3] / 2)) / t[2]);
  }
  return { frames, detected: scale.length, scale: median(scale), dx: median(dx), dy: median(dy) };
}

async function main() {
  await setupBackend();
  const name = arg('--detector') ?? 'blazeface';
  const det = await createDetector(name);
  const opts = name === 'blazeface' && arg('--box-top') !== undefined ? { boxTop: Number(arg('--box-top')) } : {};
  const r = await measureFraming(det, Number(arg('--frames') ?? 300), opts);
  console.log(JSON.stringify({ detector: name, ...opts, ...r }));
  det.dispose();
  void BlazeFaceDetector;
}

await main();
