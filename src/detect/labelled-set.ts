/**
 * A labelled face-detection set composed at run time (never stored): UTKFace's aligned face chips
 * pasted, resized, at known positions on procedurally generated backgrounds (gradients, blobs,
 * stripes, noise: no faces). Ground truth is the pasted chip's square; UTKFace chips are aligned
 * crops whose face fills the chip, so both detectors' boxes centre on it (median IoU ~0.8).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { Box, RawImage } from '../data/preprocess.js';
import { iou } from './nms.js';
import type { Detection } from './types.js';

/** Seeded uniform [0, 1) numbers (mulberry32), so a seed always composes the same frame. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LabelledFrame {
  image: RawImage;
  faces: Box[];
  sources: string[];
}

export interface ComposeOptions {
  width?: number;
  height?: number;
  /** Faces per frame. */
  faces: number;
  /** Range of pasted face sides in pixels. */
  minSide?: number;
  maxSide?: number;
  seed?: number;
}

/** UTKFace chip files (sorted, so selections are deterministic). */
export function listUtkFaces(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A procedural background without faces: a gradient plus soft blobs, stripes and noise. */
export function background(width: number, height: number, rand: () => number): RawImage {
  const data = new Uint8Array(width * height * 3);
  const c0 = [rand() * 255, rand() * 255, rand() * 255];
  const c1 = [rand() * 255, rand() * 255, rand() * 255];
  const blobs = Array.from({ length: 6 }, () => ({
    x: rand() * width,
    y: rand() * height,
    r: 20 + rand() * 120,
    c: [rand() * 255, rand() * 255, rand() * 255],
  }));
  const stripe = { period: 8 + rand() * 40, amp: rand() * 40, angle: rand() * Math.PI };
  const sa = Math.cos(stripe.angle);
  const sb = Math.sin(stripe.angle);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x / width + y / height) / 2;
      const s = stripe.amp * Math.sin(((x * sa + y * sb) / stripe.period) * 2 * Math.PI);
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        let v = c0[c] * (1 - t) + c1[c] * t + s;
        for (const b of blobs) {
          const d2 = ((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r);
          if (d2 < 4) v += (b.c[c] - v) * Math.exp(-d2 * 2) * 0.8;
        }
        data[i + c] = Math.max(0, Math.min(255, v + (rand() - 0.5) * 16));
      }
    }
  }
  return { data, width, height, channels: 3 };
}

/** Compose one frame with `faces` chips at random non-overlapping positions. */
export async function composeFrame(chips: string[], opts: ComposeOptions): Promise<LabelledFrame> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 480;
  const rand = mulberry32(opts.seed ?? 1);
  const image = background(width, height, rand);
  const faces: Box[] = [];
  const sources: string[] = [];
  const minSide = opts.minSide ?? 60;
  const maxSide = Math.min(opts.maxSide ?? 200, width, height);
  for (let k = 0; k < opts.faces; k++) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const side = Math.round(minSide + rand() * (maxSide - minSide));
      const x = Math.floor(rand() * (width - side));
      const y = Math.floor(rand() * (height - side));
      const box: Box = [x, y, side, side];
      // Keep faces apart so each is a separate, unoccluded target.
      if (faces.some((f) => x < f[0] + f[2] + 8 && f[0] < x + side + 8 && y < f[1] + f[3] + 8 && f[1] < y + side + 8)) continue;
      const file = chips[Math.floor(rand() * chips.length)];
      const chip = await sharp(file).resize(side, side, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
      for (let yy = 0; yy < side; yy++) {
        image.data.set(chip.subarray(yy * side * 3, (yy + 1) * side * 3), ((y + yy) * width + x) * 3);
      }
      faces.push(box);
      sources.push(file);
      break;
    }
  }
  return { image, faces, sources };
}

export interface MatchStats {
  truth: number;
  detected: number;
  truePositives: number;
  falsePositives: number;
  /** IoU of every matched truth box. */
  ious: number[];
}

/** Greedy one-to-one matching of detections to truth boxes at IoU >= threshold (best pairs first). */
export function matchDetections(truth: Box[], dets: Detection[], threshold = 0.5): MatchStats {
  const pairs: Array<[number, number, number]> = [];
  truth.forEach((t, i) =>
    dets.forEach((d, j) => {
      const o = iou(t, d.box);
      if (o >= threshold) pairs.push([o, i, j]);
    }),
  );
  pairs.sort((a, b) => b[0] - a[0]);
  const ti = new Set<number>();
  const dj = new Set<number>();
  const ious: number[] = [];
  for (const [o, i, j] of pairs) {
    if (ti.has(i) || dj.has(j)) continue;
    ti.add(i);
    dj.add(j);
    ious.push(o);
  }
  return { truth: truth.length, detected: dets.length, truePositives: ious.length, falsePositives: dets.length - ious.length, ious };
}

export function addStats(a: MatchStats, b: MatchStats): MatchStats {
  return {
    truth: a.truth + b.truth,
    detected: a.detected + b.detected,
    truePositives: a.truePositives + b.truePositives,
    falsePositives: a.falsePositives + b.falsePositives,
    ious: [...a.ious, ...b.ious],
  };
}

export const EMPTY_STATS: MatchStats = { truth: 0, detected: 0, truePositives: 0, falsePositives: 0, ious: [] };
