/**
 * BlazeFace (MediaPipe "back" variant, 256x256) loaded from assets/blazeface with our own code:
 * the frame (and, when needed, overlapping tiles of it) is letterboxed onto a square and downscaled
 * to 256x256 (area filter, RGB, [-1, 1]); the two heads (16x16x2 and 8x8x6 anchors) are decoded
 * here, then weighted NMS. The network runs on onnxruntime-node, converted in memory by
 * ./graph-to-onnx.ts (about 5x faster than tfjs wasm here), or on tfjs (engine 'tfjs', also the
 * fallback when onnxruntime cannot load).
 *
 * This file is the browser-safe part (no Node imports): decoding, tiles, NMS, the tfjs network;
 * ./blazeface.ts adds loading the shipped weights and the onnxruntime-node engine.
 */
import * as tf from '@tensorflow/tfjs';
import type { Box, RawImage } from '../data/preprocess.js';
import { finishDetections, nms } from './nms.js';
import { fitRegion, resizeRgb, type Fit, type Region, type Sampling } from './resize.js';
import { KEYPOINT_NAMES, type DetectOptions, type Detection, type Detector, type Keypoints, type TileMode } from './types.js';

export const BLAZEFACE_INPUT = 256;

/** Pre- and post-processing choices (measured in bench/detect-compare.ts). */
export interface BlazeFaceTuning {
  fit?: Fit;
  sampling?: Sampling;
  /** Weighted NMS (boxes averaged with those they suppress) or plain NMS. */
  weighted?: boolean;
  /** Tile grids: one per maximum tile side (default BLAZEFACE_DEFAULTS.tileSides, or denseTileSides). */
  tileSides?: number[];
  /** Upward box extension (fraction of its height); default BLAZEFACE_DEFAULTS.boxTop. */
  boxTop?: number;
  /** Containment suppression (fraction of a box inside a better one; 1 = off). */
  contained?: number;
  /** Which detections of a tile are kept (false: all). */
  tileRule?: Partial<TileRule> | false;
}
/**
 * Largest tile side: faces down to about 1/15 of it (~35 px) are found. 512 on widerface-dev500:
 * AP hard 0.30 -> 0.38 over 1024 px tiles (640x480 frames get the same 480 px tiles either way).
 */
export const TILE_MAX_SIDE = 512;
/** 'auto' tiles always run on images whose shorter side exceeds this (photos, not video). */
export const AUTO_TILES_ABOVE = 1280;
/**
 * Defaults chosen on real photos (widerface-dev500, `facecls eval detect` and bench/detect-compare.ts;
 * docs/pipeline.md has the figures): score threshold 0.6 (highest F1 on the medium subset: below it
 * most extra detections are false), weighted NMS at IoU 0.3, tiles of at most 512 px in 'auto'.
 */
export const BLAZEFACE_DEFAULTS: {
  scoreThreshold: number;
  iouThreshold: number;
  fit: Fit;
  sampling: Sampling;
  tiles: TileMode;
  weakScore: number;
  tileSides: number[];
  denseTileSides: number[];
  boxTop: number;
  contained: number;
} = {
  scoreThreshold: 0.6,
  iouThreshold: 0.3,
  fit: 'letterbox',
  sampling: 'area',
  tiles: 'auto',
  /** 'auto' tiles: a whole-frame detection scoring in [weakScore, scoreThreshold) triggers them. */
  weakScore: 0.2,
  /** Tile grids (largest tile side of each): tiles always (true), and 'dense' / 'auto' (auto takes the finer grid only when unsure). */
  tileSides: [TILE_MAX_SIDE],
  denseTileSides: [TILE_MAX_SIDE, 256],
  /**
   * BlazeFace's box runs from the brows to the chin; face annotations (WIDER FACE boxes, FDDB
   * ellipses) run from the top of the forehead. The box is extended upward by this fraction of its
   * height (on widerface-dev500 labelled boxes are 1.12x as tall as BlazeFace's and centred 0.07 of
   * their height higher, with the same width; AP flat for 0.14-0.18).
   */
  boxTop: 0.15,
  /**
   * A detection with at least this fraction of its box inside a higher-scoring face's box is dropped (a
   * part of that face: on 200x200 UTKFace chips, 2 in 200 got such a second box scoring 0.68-0.77; no
   * change on widerface-dev500).
   */
  contained: 0.5,
};

/**
 * A tile sees part of the frame, so faces cut by its inner edges give partial, misplaced boxes (the
 * whole face is in the neighbouring tile, which overlaps it by at least a quarter, or in the
 * whole-frame pass), and large faces are the whole-frame pass's job. A tile's detection is kept when
 * its box does not cross an inner edge of the tile by more than `edge` of its side and its side is at
 * most `maxSide` of the tile's.
 */
export interface TileRule {
  edge: number;
  maxSide: number;
}
export const TILE_RULE: TileRule = { edge: 0.1, maxSide: 0.5 };

export function keepInTile(box: Box, t: Region, width: number, height: number, rule: TileRule): boolean {
  const side = Math.max(box[2], box[3]);
  if (side > rule.maxSide * t.width) return false;
  const tol = rule.edge * side;
  if (t.x0 > 0 && box[0] < t.x0 - tol) return false;
  if (t.y0 > 0 && box[1] < t.y0 - tol) return false;
  if (t.x0 + t.width < width && box[0] + box[2] > t.x0 + t.width + tol) return false;
  if (t.y0 + t.height < height && box[1] + box[3] > t.y0 + t.height + tol) return false;
  return true;
}

/** Drop boxes lying mostly (`fraction` of their area or more) inside a higher-scoring kept box. */
export function dropContained(dets: Detection[], fraction: number): Detection[] {
  if (fraction >= 1) return dets;
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const out: Detection[] = [];
  for (const d of sorted) {
    const [x, y, w, h] = d.box;
    const inside = out.some(({ box: k }) => {
      const iw = Math.min(x + w, k[0] + k[2]) - Math.max(x, k[0]);
      const ih = Math.min(y + h, k[1] + k[3]) - Math.max(y, k[1]);
      return iw > 0 && ih > 0 && (iw * ih) / (w * h) >= fraction;
    });
    if (!inside) out.push(d);
  }
  return out;
}

/** Anchor centres in input pixels: stride 16 (16x16 grid, 2 per cell), then stride 32 (8x8, 6 per cell). */
function anchors(size: number): Float32Array {
  const out: number[] = [];
  for (const [stride, perCell] of [
    [size / 16, 2],
    [size / 8, 6],
  ]) {
    const grid = Math.ceil(size / stride);
    for (let gy = 0; gy < grid; gy++) {
      for (let gx = 0; gx < grid; gx++) {
        for (let k = 0; k < perCell; k++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  return Float32Array.from(out);
}

export type DetectorEngine = 'onnx' | 'tfjs';

export const OUTPUTS = ['Identity', 'Identity_1', 'Identity_2', 'Identity_3'];

/** Raw network: NHWC [1, 256, 256, 3] in, logits [896] and regressors [896 x 16] out (512 + 384 anchors). */
export interface BlazeFaceNet {
  run(input: Float32Array): Promise<{ scores: Float32Array; regs: Float32Array }>;
  dispose(): void;
}

export function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export class TfjsNet implements BlazeFaceNet {
  constructor(private readonly model: tf.GraphModel) {}
  async run(input: Float32Array) {
    const size = BLAZEFACE_INPUT;
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(input, [1, size, size, 3]);
      return this.model.execute(
        x,
        OUTPUTS.map((o) => `${o}:0`),
      ) as tf.Tensor[];
    });
    const [s512, s384, r512, r384] = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
    tf.dispose(outs);
    return { scores: concat(s512, s384), regs: concat(r512, r384) };
  }
  dispose() {
    this.model.dispose();
  }
}

export class BlazeFaceCore implements Detector {
  readonly name = 'blazeface' as const;
  private readonly anchors = anchors(BLAZEFACE_INPUT);

  constructor(
    private readonly net: BlazeFaceNet,
    readonly engine: DetectorEngine,
  ) {}

  /**
   * A detector over an already loaded tfjs BlazeFace graph model (e.g. fetched by the browser page
   * with tf.loadGraphModel): NHWC [1, 256, 256, 3] in, the four score/regressor outputs of the
   * shipped model. The detector owns the model (dispose() frees it).
   */
  static fromGraphModel(model: tf.GraphModel): BlazeFaceCore {
    return new BlazeFaceCore(new TfjsNet(model), 'tfjs');
  }

  /** Raw network outputs for a prepared input (exposed for tests comparing engines). */
  runNet(input: Float32Array): Promise<{ scores: Float32Array; regs: Float32Array }> {
    return this.net.run(input);
  }

  /**
   * Regions the network looks at: the whole frame (letterboxed) and, with `tiles`, a grid of
   * overlapping squares (side: the frame's shorter side, at most TILE_MAX_SIDE; overlap >= 1/4), which
   * see small faces at a higher resolution: two tiles for 4:3 and 16:9 frames up to 1024 px high,
   * more for large photos. Tuned on composed UTKFace frames (bench/pipeline.ts).
   */
  static regions(width: number, height: number, fit: Fit, tiles: boolean, tileSides: number[] = BLAZEFACE_DEFAULTS.tileSides): Region[] {
    const out = [fitRegion(width, height, fit)];
    if (!tiles) return out;
    for (const s of tileSides) out.push(...BlazeFaceCore.grid(width, height, s));
    return out;
  }

  /**
   * Overlapping squares covering the frame (none when one would do): side `maxSide`, or the shorter
   * side when smaller; on images whose shorter side exceeds 3 x maxSide (large photos) the tiles grow
   * with it (shorter side x maxSide / 1536), which bounds their number (20 on a 4000x3000 photo).
   */
  static grid(width: number, height: number, maxSide: number): Region[] {
    const out: Region[] = [];
    const short = Math.min(width, height);
    const side = Math.min(short, Math.max(maxSide, Math.round((short * maxSide) / 1536)));
    const starts = (extent: number): number[] => {
      if (extent <= side * 1.15) return [Math.round((extent - side) / 2)];
      const n = Math.ceil((extent - side) / (side * 0.75)) + 1;
      return Array.from({ length: n }, (_, i) => Math.round(((extent - side) * i) / (n - 1)));
    };
    const xs = starts(width);
    const ys = starts(height);
    if (xs.length * ys.length < 2) return out;
    for (const y0 of ys) for (const x0 of xs) out.push({ x0, y0, width: side, height: side });
    return out;
  }

  /** Candidate boxes (frame pixels) scoring above `minScore` in one region. */
  private async pass(img: RawImage, region: Region, minScore: number, sampling: Sampling, boxTop: number, out: Detection[], tile?: TileRule): Promise<void> {
    const size = BLAZEFACE_INPUT;
    // A buffer per pass: detect() may run concurrently (the server overlaps requests, evaluation decodes
    // ahead), and onnxruntime reads the input while this thread goes on.
    const input = new Float32Array(size * size * 3);
    resizeRgb(img, size, input, region, sampling);
    const { scores, regs } = await this.net.run(input);
    const logit = Math.log(minScore / (1 - minScore));
    const sx = region.width / size;
    const sy = region.height / size;
    for (let i = 0; i < scores.length; i++) {
      if (!(scores[i] > logit)) continue;
      const r = i * 16;
      const cx = this.anchors[2 * i] + regs[r];
      const cy = this.anchors[2 * i + 1] + regs[r + 1];
      const w = regs[r + 2];
      const h = regs[r + 3];
      if (!(w > 0 && h > 0)) continue;
      // After the box: 6 keypoints (x, y) as offsets from the anchor centre, in MediaPipe's order.
      const keypoints = {} as Keypoints;
      KEYPOINT_NAMES.forEach((name, k) => {
        keypoints[name] = [region.x0 + (this.anchors[2 * i] + regs[r + 4 + 2 * k]) * sx, region.y0 + (this.anchors[2 * i + 1] + regs[r + 5 + 2 * k]) * sy];
      });
      const box: Box = [region.x0 + (cx - w / 2) * sx, region.y0 + (cy - h / 2 - boxTop * h) * sy, w * sx, h * (1 + boxTop) * sy];
      if (tile && !keepInTile(box, region, img.width, img.height, tile)) continue;
      out.push({
        box,
        score: 1 / (1 + Math.exp(-scores[i])),
        keypoints,
      });
    }
  }

  async detect(img: RawImage, opts: DetectOptions & BlazeFaceTuning = {}): Promise<Detection[]> {
    const threshold = opts.scoreThreshold ?? BLAZEFACE_DEFAULTS.scoreThreshold;
    const iouThreshold = opts.iouThreshold ?? BLAZEFACE_DEFAULTS.iouThreshold;
    const sampling = opts.sampling ?? BLAZEFACE_DEFAULTS.sampling;
    const boxTop = opts.boxTop ?? BLAZEFACE_DEFAULTS.boxTop;
    const mode = opts.tiles ?? BLAZEFACE_DEFAULTS.tiles;
    const sides = opts.tileSides ?? (mode === true ? BLAZEFACE_DEFAULTS.tileSides : BLAZEFACE_DEFAULTS.denseTileSides);
    const full = fitRegion(img.width, img.height, opts.fit ?? BLAZEFACE_DEFAULTS.fit);
    const levels = mode === false ? [] : sides.map((s) => BlazeFaceCore.grid(img.width, img.height, s)).filter((g) => g.length > 0);
    const weak = Math.min(threshold, BLAZEFACE_DEFAULTS.weakScore);
    const floor = Math.min(threshold, opts.minScore ?? threshold);
    // 'auto' also collects weak candidates: they decide whether to look closer.
    const passMin = mode === 'auto' ? Math.min(weak, floor) : floor;
    const rule: TileRule | undefined = opts.tileRule === false ? undefined : { ...TILE_RULE, ...opts.tileRule };
    const cands: Detection[] = [];
    await this.pass(img, full, passMin, sampling, boxTop, cands);
    for (const [level, grid] of levels.entries()) {
      // 'auto': each finer grid only when what has been seen so far holds a possible face that did
      // not reach the threshold (after NMS, so the weaker anchors around a clear face do not count):
      // a clear frame costs one pass, a crowd gets the 512 px and then the 256 px tiles. Images
      // larger than HD video (photos) always get the first grid: small faces in them may not even
      // score weakly at a 5x+ downscale, and they are not real-time streams.
      if (mode === 'auto') {
        const photo = level === 0 && Math.min(img.width, img.height) > AUTO_TILES_ABOVE;
        const unsure = nms(
          cands.filter((d) => d.score >= weak),
          iouThreshold,
        ).some((d) => d.score < threshold);
        if (!photo && !unsure) break;
      }
      for (const t of grid) await this.pass(img, t, passMin, sampling, boxTop, cands, rule);
    }
    // Weighted NMS blends only boxes at or above the threshold into a face's box, so the boxes a user
    // gets do not depend on how far below the threshold an evaluation looks (minScore).
    const merged = nms(
      cands.filter((d) => d.score >= floor),
      iouThreshold,
      Infinity,
      opts.weighted ?? true,
      threshold,
    );
    const kept = dropContained(merged, opts.contained ?? BLAZEFACE_DEFAULTS.contained);
    return finishDetections(kept, img.width, img.height, opts.minFaceSize, opts.maxFaces);
  }

  dispose(): void {
    this.net.dispose();
  }
}
