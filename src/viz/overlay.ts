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
  /** Map, row-major size x size, values in [0, 1]. */
  map: Float32Array;
  size: number;
}

export interface BlendOptions {
  colormap?: ColormapName;
  /** Opacity where the map is 1 (scaled by the map value). Default 0.6. */
  opacity?: number;
}

/** Blend maps into interleaved 8-bit RGB (3) or RGBA (4) pixels, in place. */
export function blendSaliency(
  frame: { data: Uint8Array | Uint8ClampedArray; width: number; height: number; channels: 3 | 4 },
  maps: FrameMap[],
  opts: BlendOptions = {},
): void {
  const lut = colormapLut(opts.colormap ?? 'turbo');
  const opacity = opts.opacity ?? 0.6;
  const { data, width, height, channels } = frame;
  for (const { box, map, size } of maps) {
    const [bx, by, bw, bh] = box;
    if (!(bw > 0 && bh > 0) || map.length < size * size) continue;
    const x0 = Math.max(0, Math.floor(bx));
    const y0 = Math.max(0, Math.floor(by));
    const x1 = Math.min(width, Math.ceil(bx + bw));
    const y1 = Math.min(height, Math.ceil(by + bh));
    for (let y = y0; y < y1; y++) {
      const fy = Math.max(0, Math.min(size - 1, ((y + 0.5 - by) / bh) * size - 0.5));
      const my0 = Math.floor(fy);
      const my1 = Math.min(size - 1, my0 + 1);
      const ay = fy - my0;
      for (let x = x0; x < x1; x++) {
        const fx = Math.max(0, Math.min(size - 1, ((x + 0.5 - bx) / bw) * size - 0.5));
        const mx0 = Math.floor(fx);
        const mx1 = Math.min(size - 1, mx0 + 1);
        const ax = fx - mx0;
        const v =
          (1 - ay) * ((1 - ax) * map[my0 * size + mx0] + ax * map[my0 * size + mx1]) + ay * ((1 - ax) * map[my1 * size + mx0] + ax * map[my1 * size + mx1]);
        const m = v > 0 ? (v < 1 ? v : 1) : 0;
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
}
