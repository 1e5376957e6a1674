/**
 * Follows faces across video frames by box overlap (greedy IoU matching, best pairs first) and,
 * optionally, smooths each track's probabilities over its last `window` frames (mean of the
 * probability vectors; the paper used the mode of the last 10 labels, which this approximates while
 * keeping calibrated scores; age: the mean of the years and of the range ends). Tracks unseen for
 * `maxAge` frames are dropped.
 */
import { iou } from '../detect/nms.js';
import { toLabelScores } from './face-classifier.js';
import type { AgeEstimate, FaceResult, LabelScores, TrackedFace } from './types.js';

export interface TrackerOptions {
  /** Minimum IoU between a track's last box and a new box to continue the track. Default 0.3. */
  iouThreshold?: number;
  /** Frames a track survives without a match. Default 10. */
  maxAge?: number;
  /** Smoothing window in frames (1 = off). Default 1. */
  window?: number;
}

interface Track {
  id: number;
  box: FaceResult['box'];
  lastSeen: number;
  history: { emotion?: LabelScores; gender?: LabelScores; age?: AgeEstimate }[];
}

export class FaceTracker {
  private tracks: Track[] = [];
  private nextId = 1;
  private frame = 0;
  private readonly iouThreshold: number;
  private readonly maxAge: number;
  private readonly window: number;

  constructor(opts: TrackerOptions = {}) {
    this.iouThreshold = opts.iouThreshold ?? 0.3;
    this.maxAge = opts.maxAge ?? 10;
    this.window = Math.max(1, Math.floor(opts.window ?? 1));
  }

  update(faces: FaceResult[]): TrackedFace[] {
    const frame = this.frame++;
    const pairs: Array<[number, number, number]> = [];
    faces.forEach((f, i) =>
      this.tracks.forEach((t, j) => {
        const o = iou(f.box, t.box);
        if (o >= this.iouThreshold) pairs.push([o, i, j]);
      }),
    );
    pairs.sort((a, b) => b[0] - a[0]);
    const faceTrack = new Array<Track | undefined>(faces.length);
    const taken = new Set<number>();
    for (const [, i, j] of pairs) {
      if (faceTrack[i] || taken.has(j)) continue;
      faceTrack[i] = this.tracks[j];
      taken.add(j);
    }
    const out = faces.map((f, i) => {
      let t = faceTrack[i];
      if (!t) {
        t = { id: this.nextId++, box: f.box, lastSeen: frame, history: [] };
        this.tracks.push(t);
      }
      t.box = f.box;
      t.lastSeen = frame;
      t.history.push({ emotion: f.emotion, gender: f.gender, age: f.age });
      if (t.history.length > this.window) t.history.shift();
      const r: TrackedFace = { track: t.id, ...f };
      if (this.window > 1) {
        if (f.emotion) r.emotion = smooth(t.history.map((h) => h.emotion));
        if (f.gender) r.gender = smooth(t.history.map((h) => h.gender));
        if (f.age) r.age = smoothAge(t.history.map((h) => h.age));
      }
      return r;
    });
    this.tracks = this.tracks.filter((t) => frame - t.lastSeen < this.maxAge);
    return out;
  }
}

function smooth(items: Array<LabelScores | undefined>): LabelScores {
  const present = items.filter((x): x is LabelScores => x !== undefined);
  const labels = Object.keys(present[present.length - 1].scores);
  const mean = labels.map((l) => present.reduce((s, x) => s + (x.scores[l] ?? 0), 0) / present.length);
  return toLabelScores(labels, mean);
}

/** Mean age over the window: years to 0.1, range ends to whole years (as the classifier reports them). */
function smoothAge(items: Array<AgeEstimate | undefined>): AgeEstimate {
  const present = items.filter((x): x is AgeEstimate => x !== undefined);
  const mean = (f: (a: AgeEstimate) => number) => present.reduce((s, a) => s + f(a), 0) / present.length;
  return { years: Math.round(mean((a) => a.years) * 10) / 10, range: [Math.round(mean((a) => a.range[0])), Math.round(mean((a) => a.range[1]))] };
}
