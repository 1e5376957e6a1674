/**
 * Face-detection evaluation on labelled photos: WIDER FACE (the project's `widerface-dev500` layout:
 * images/ + boxes.csv with the official easy/medium/hard flags) and FDDB (ellipse lists per fold).
 *
 * Protocol (WIDER FACE's): per image and subset, detections are taken in score order and each is
 * matched one-to-one to the unmatched face of the subset it overlaps most (IoU >= 0.5, by default);
 * a detection that matches no such face but overlaps a face outside the subset (or one flagged
 * invalid) by the same IoU is ignored, not counted false (as COCO's "ignore" regions: faces outside a
 * subset absorb any number of detections); the rest are false positives. Average precision is the
 * area under the precision envelope over all detections of all images (every recall point, as
 * PASCAL VOC 2010+ and the WIDER FACE toolbox compute it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Box } from '../data/preprocess.js';
import { iou } from '../detect/nms.js';
import { UserError } from '../errors.js';

export const DETECTION_FORMATS = ['widerface', 'fddb'] as const;
export type DetectionFormat = (typeof DETECTION_FORMATS)[number];

export interface LabelledImage {
  /** Path relative to the set's root (as the annotations name it). */
  id: string;
  /** Absolute image file. */
  file: string;
  boxes: Box[];
  /** Per subset, whether each box belongs to it (a box outside every subset is only ever ignored). */
  member: Record<string, boolean[]>;
}

export interface DetectionSet {
  format: DetectionFormat;
  root: string;
  subsets: string[];
  images: LabelledImage[];
}

/** Read a detection set; the format is detected from the layout when not given. */
export function loadDetectionSet(root: string, format?: DetectionFormat): DetectionSet {
  if (!fs.existsSync(root)) throw new UserError(`no detection data at "${root}"`);
  const f = format ?? detectDetectionFormat(root);
  return f === 'widerface' ? loadWiderCsv(root) : loadFddb(root);
}

export function detectDetectionFormat(root: string): DetectionFormat {
  if (fs.existsSync(path.join(root, 'boxes.csv'))) return 'widerface';
  if (fddbListFiles(root).length > 0) return 'fddb';
  throw new UserError(`"${root}" is neither a WIDER FACE set (boxes.csv + images/) nor FDDB (FDDB-fold-NN-ellipseList.txt files)`);
}

const WIDER_SUBSETS = ['easy', 'medium', 'hard'];

/** widerface-dev500 layout: `boxes.csv` (image,x,y,w,h,blur,...,invalid,...,easy,medium,hard) and `images/<event>/<name>.jpg`. */
export function loadWiderCsv(root: string): DetectionSet {
  const csv = path.join(root, 'boxes.csv');
  const lines = fs
    .readFileSync(csv, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split(',').map((s) => s.trim());
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new UserError(`${csv}: missing column "${name}" (expected image,x,y,w,h,...,easy,medium,hard)`);
    return i;
  };
  const [ci, cx, cy, cw, ch] = ['image', 'x', 'y', 'w', 'h'].map(col);
  const cs = WIDER_SUBSETS.map(col);
  const byImage = new Map<string, LabelledImage>();
  lines.forEach((line, n) => {
    const f = line.split(',');
    const id = f[ci];
    if (!id) throw new UserError(`${csv}:${n + 2}: empty image name`);
    let img = byImage.get(id);
    if (!img) {
      img = { id, file: path.join(root, 'images', id), boxes: [], member: Object.fromEntries(WIDER_SUBSETS.map((s) => [s, []])) };
      byImage.set(id, img);
    }
    if (f[cx] === '' || f[cx] === undefined) return; // an image without faces
    const box = [f[cx], f[cy], f[cw], f[ch]].map(Number) as Box;
    if (box.some((v) => !Number.isFinite(v))) throw new UserError(`${csv}:${n + 2}: box is not numeric: ${line}`);
    img.boxes.push(box);
    WIDER_SUBSETS.forEach((s, k) => img!.member[s].push(f[cs[k]] === '1'));
  });
  return { format: 'widerface', root, subsets: WIDER_SUBSETS, images: [...byImage.values()] };
}

function fddbListFiles(root: string): string[] {
  const out: string[] = [];
  for (const dir of [root, path.join(root, 'FDDB-folds')]) {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).sort()) if (/ellipseList\.txt$/.test(f)) out.push(path.join(dir, f));
  }
  return out;
}

/** Axis-aligned bounding box of an ellipse (radii a, b, rotated by `angle` radians, centre cx, cy). */
export function ellipseBox(a: number, b: number, angle: number, cx: number, cy: number): Box {
  const hw = Math.sqrt((a * Math.cos(angle)) ** 2 + (b * Math.sin(angle)) ** 2);
  const hh = Math.sqrt((a * Math.sin(angle)) ** 2 + (b * Math.cos(angle)) ** 2);
  return [cx - hw, cy - hh, 2 * hw, 2 * hh];
}

/**
 * FDDB: `FDDB-fold-NN-ellipseList.txt` (in the root or root/FDDB-folds/): per image its path without
 * extension, the face count, then one line per face `major_radius minor_radius angle centre_x
 * centre_y 1`. Images are `<root>/originalPics/<path>.jpg` (the original layout) or `<root>/<path>.jpg`.
 * Faces become the bounding boxes of their ellipses; one subset, "all".
 */
export function loadFddb(root: string): DetectionSet {
  const lists = fddbListFiles(root);
  if (lists.length === 0) throw new UserError(`no FDDB-fold-NN-ellipseList.txt under "${root}"`);
  const images: LabelledImage[] = [];
  const picsDir = fs.existsSync(path.join(root, 'originalPics')) ? path.join(root, 'originalPics') : root;
  for (const list of lists) {
    const lines = fs.readFileSync(list, 'utf8').split(/\r?\n/);
    let i = 0;
    const where = () => `${list}:${i + 1}`;
    while (i < lines.length) {
      const id = lines[i].trim();
      if (id === '') {
        i++;
        continue;
      }
      const count = Number(lines[i + 1]);
      if (!Number.isInteger(count) || count < 0) throw new UserError(`${where()}: expected a face count after "${id}", got "${lines[i + 1] ?? ''}"`);
      const boxes: Box[] = [];
      for (let k = 0; k < count; k++) {
        const v = (lines[i + 2 + k] ?? '').trim().split(/\s+/).map(Number);
        if (v.length < 5 || v.slice(0, 5).some((x) => !Number.isFinite(x)))
          throw new UserError(`${list}:${i + 3 + k}: expected "major minor angle cx cy 1", got "${lines[i + 2 + k] ?? ''}"`);
        boxes.push(ellipseBox(v[0], v[1], v[2], v[3], v[4]));
      }
      const file = path.join(picsDir, /\.(jpe?g|png)$/i.test(id) ? id : `${id}.jpg`);
      images.push({ id, file, boxes, member: { all: boxes.map(() => true) } });
      i += 2 + count;
    }
  }
  return { format: 'fddb', root, subsets: ['all'], images };
}

export interface ScoredBox {
  box: Box;
  score: number;
}

interface Scored {
  score: number;
  tp: boolean;
}

/** Match one image's detections against its faces for one subset (see the file comment). */
export function matchImage(boxes: Box[], member: boolean[], dets: ScoredBox[], iouThreshold = 0.5): { scored: Scored[]; positives: number } {
  const order = dets.map((_, i) => i).sort((a, b) => dets[b].score - dets[a].score);
  const matched = new Uint8Array(boxes.length);
  const scored: Scored[] = [];
  for (const j of order) {
    let best = -1;
    let bestIou = iouThreshold;
    let ignored = false;
    for (let i = 0; i < boxes.length; i++) {
      if (!member[i] || matched[i]) continue;
      const o = iou(boxes[i], dets[j].box);
      if (o >= bestIou) {
        best = i;
        bestIou = o;
      }
    }
    if (best >= 0) {
      matched[best] = 1;
      scored.push({ score: dets[j].score, tp: true });
      continue;
    }
    for (let i = 0; i < boxes.length && !ignored; i++) if (!member[i] && iou(boxes[i], dets[j].box) >= iouThreshold) ignored = true;
    if (!ignored) scored.push({ score: dets[j].score, tp: false });
  }
  return { scored, positives: member.filter(Boolean).length };
}

export interface SubsetResult {
  subset: string;
  /** Faces in the subset. */
  faces: number;
  /** Detections counted (those matching faces outside the subset are left out). */
  detections: number;
  ap: number;
  /** At the operating threshold: precision, recall, true and false positives. */
  atThreshold: { threshold: number; precision: number; recall: number; truePositives: number; falsePositives: number };
  /** Precision-recall curve, one point per distinct score (thinned to at most ~2000 points). */
  curve: Array<{ score: number; recall: number; precision: number }>;
}

/** AP, the PR curve and the figures at `threshold` over every image of one subset. */
export function subsetResult(subset: string, perImage: Array<{ scored: Scored[]; positives: number }>, threshold: number): SubsetResult {
  const all = perImage.flatMap((p) => p.scored).sort((a, b) => b.score - a.score);
  const positives = perImage.reduce((a, p) => a + p.positives, 0);
  const points: Array<{ score: number; recall: number; precision: number }> = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < all.length; k++) {
    if (all[k].tp) tp++;
    else fp++;
    // One point per distinct score: ties are counted together.
    if (k + 1 < all.length && all[k + 1].score === all[k].score) continue;
    points.push({ score: all[k].score, recall: positives ? tp / positives : 0, precision: tp / (tp + fp) });
  }
  // Area under the precision envelope (precision made non-increasing in recall).
  let ap = 0;
  let envelope = 0;
  for (let k = points.length - 1; k >= 0; k--) {
    envelope = Math.max(envelope, points[k].precision);
    const prevRecall = k > 0 ? points[k - 1].recall : 0;
    ap += (points[k].recall - prevRecall) * envelope;
  }
  const kept = all.filter((s) => s.score >= threshold);
  const ktp = kept.filter((s) => s.tp).length;
  const step = Math.max(1, Math.floor(points.length / 2000));
  return {
    subset,
    faces: positives,
    detections: all.length,
    ap,
    atThreshold: {
      threshold,
      precision: kept.length ? ktp / kept.length : 1,
      recall: positives ? ktp / positives : 0,
      truePositives: ktp,
      falsePositives: kept.length - ktp,
    },
    curve: points.filter((_, k) => k % step === 0 || k === points.length - 1),
  };
}

/** Evaluate detections (one list per image of `set`, same order) on every subset of the set. */
export function evaluateDetections(set: DetectionSet, dets: ScoredBox[][], opts: { iouThreshold?: number; threshold?: number } = {}): SubsetResult[] {
  if (dets.length !== set.images.length) throw new Error(`evaluateDetections: ${dets.length} detection lists for ${set.images.length} images`);
  return set.subsets.map((s) =>
    subsetResult(
      s,
      set.images.map((img, i) => matchImage(img.boxes, img.member[s], dets[i], opts.iouThreshold ?? 0.5)),
      opts.threshold ?? 0.5,
    ),
  );
}

/** Highest precision at a recall of at least `recall` (0 when the curve never reaches it). */
export function precisionAtRecall(r: SubsetResult, recall: number): number {
  let best = 0;
  for (const p of r.curve) if (p.recall >= recall) best = Math.max(best, p.precision);
  return best;
}
