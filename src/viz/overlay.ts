/**
 * Blend saliency maps into a whole frame in place, each over its face box: for live video
 * (`facecls video --saliency`) and the browser overlay (RGBA ImageData). Pure TypeScript.
 *
 * The map covers the crop box the model saw (square, possibly extending past the frame edge); each
 * frame pixel inside the box samples the map bilinearly at its position in the box.
 */
import type { Box } from '../data/preprocess.js';
import { colormapLut, type ColormapName } from './colormap.js';

export interface FrameMap {
  /** Crop box in frame pixels [x, y, w, h] (as returned in ExplainedFace.box). */
  box: Box;
  /** The crop's turn about the box centre (radians; FaceCrop.angle, eyes levelled): the map is drawn turned alike. */
  angle?: number;
  /** Map, row-major size x size, values in [0, 1]. */
  map: Float32Array;
  size: number;
}

export interface BlendOptions {
  colormap?: ColormapName;
  /** Opacity where the map is 1 (scaled by the map value). Default 0.6. */
  opacity?: number;
}

/** Bilinear sample of a size x size map at fractional map coordinates (clamped to the map). */
function sampleMap(map: Float32Array, size: number, fxRaw: number, fyRaw: number): number {
  const fx = Math.max(0, Math.min(size - 1, fxRaw));
  const fy = Math.max(0, Math.min(size - 1, fyRaw));
  const mx0 = Math.floor(fx);
  const my0 = Math.floor(fy);
  const mx1 = Math.min(size - 1, mx0 + 1);
  const my1 = Math.min(size - 1, my0 + 1);
  const ax = fx - mx0;
  const ay = fy - my0;
  const v = (1 - ay) * ((1 - ax) * map[my0 * size + mx0] + ax * map[my0 * size + mx1]) + ay * ((1 - ax) * map[my1 * size + mx0] + ax * map[my1 * size + mx1]);
  return v > 0 ? (v < 1 ? v : 1) : 0;
}

type Frame = { data: Uint8Array | Uint8ClampedArray; width: number; height: number; channels: 3 | 4 };

/** Blend one map into the frame over its (possibly turned) crop box. */
function blendOne(frame: Frame, { box, angle, map, size }: FrameMap, lut: Uint8Array, opacity: number): void {
  const [bx, by, bw, bh] = box;
  if (!(bw > 0 && bh > 0) || map.length < size * size) return;
  const { data, width, height, channels } = frame;
  const cos = Math.cos(angle ?? 0);
  const sin = Math.sin(angle ?? 0);
  const cx = bx + bw / 2;
  const cy = by + bh / 2;
  // Extent of the (turned) box; for an upright box exactly the box.
  const ex = (Math.abs(cos) * bw + Math.abs(sin) * bh) / 2;
  const ey = (Math.abs(sin) * bw + Math.abs(cos) * bh) / 2;
  const [x0, x1] = [Math.max(0, Math.floor(cx - ex)), Math.min(width, Math.ceil(cx + ex))];
  const [y0, y1] = [Math.max(0, Math.floor(cy - ey)), Math.min(height, Math.ceil(cy + ey))];
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      // The pixel centre in the upright crop's coordinates (offset from the centre).
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const u = cos * dx + sin * dy;
      const v = -sin * dx + cos * dy;
      if (angle && (Math.abs(u) > bw / 2 || Math.abs(v) > bh / 2)) continue;
      const m = sampleMap(map, size, ((u + bw / 2) / bw) * size - 0.5, ((v + bh / 2) / bh) * size - 0.5);
      if (m === 0) continue;
      const a = opacity * m;
      const li = Math.round(m * 255) * 3;
      const i = (y * width + x) * channels;
      data[i] = Math.round((1 - a) * data[i] + a * lut[li]);
      data[i + 1] = Math.round((1 - a) * data[i + 1] + a * lut[li + 1]);
      data[i + 2] = Math.round((1 - a) * data[i + 2] + a * lut[li + 2]);
    }
  }
}

/** Blend maps into interleaved 8-bit RGB (3) or RGBA (4) pixels, in place. */
export function blendSaliency(frame: Frame, maps: FrameMap[], opts: BlendOptions = {}): void {
  const lut = colormapLut(opts.colormap ?? 'turbo');
  for (const m of maps) blendOne(frame, m, lut, opts.opacity ?? 0.6);
}
