/**
 * The detector's downscaled copy of a frame. (Classifier inputs never come from here: every face crop
 * goes through src/data/preprocess.ts preprocessFace.) This is a separable area filter specialised
 * for whole frames (equal to preprocessFace's area filter on the same region, to 1e-7) and about 6x
 * faster than that per-pixel generic crop, which matters at 30 frames/s.
 */
import type { RawImage } from '../data/preprocess.js';

/** Source taps and weights of each output sample of a 1-D area resize of `n` samples onto `m`. */
function areaTaps(n: number, m: number, start: number, span: number, sampling: Sampling): { idx: Int32Array; w: Float32Array; off: Int32Array } {
  const scale = span / m;
  const idx: number[] = [];
  const w: number[] = [];
  const off = new Int32Array(m + 1);
  for (let o = 0; o < m; o++) {
    off[o] = idx.length;
    if (sampling === 'bilinear') {
      // Two nearest source samples (pixel centres aligned), no anti-aliasing: sharper small faces.
      const f = start + (o + 0.5) * scale - 0.5;
      const s0 = Math.floor(f);
      const a = f - s0;
      for (const [s, wt] of [
        [s0, 1 - a],
        [s0 + 1, a],
      ]) {
        if (wt <= 0 || s < 0 || s >= n) continue;
        idx.push(s);
        w.push(wt);
      }
      continue;
    }
    const a = start + o * scale;
    const b = a + Math.max(scale, 1);
    const lo = Math.floor(a);
    let total = 0;
    const first = idx.length;
    for (let s = lo; s < Math.ceil(b); s++) {
      const wt = Math.min(s + 1, b) - Math.max(s, a);
      if (wt <= 0 || s < 0 || s >= n) continue; // outside the frame: padding (contributes 0)
      idx.push(s);
      w.push(wt);
      total += wt;
    }
    const denom = Math.max(scale, 1);
    for (let k = first; k < idx.length; k++) w[k] /= denom;
    void total;
  }
  off[m] = idx.length;
  return { idx: Int32Array.from(idx), w: Float32Array.from(w), off };
}

/** The region of the frame mapped onto the square output, in frame pixels (may extend past the frame: padding). */
export interface Region {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

export type Fit = 'letterbox' | 'stretch';
export type Sampling = 'area' | 'bilinear';

/** Letterbox: the centred square around the frame (aspect kept, padded); stretch: the frame itself. */
export function fitRegion(width: number, height: number, fit: Fit): Region {
  if (fit === 'stretch') return { x0: 0, y0: 0, width, height };
  const side = Math.max(width, height);
  return { x0: (width - side) / 2, y0: (height - side) / 2, width: side, height: side };
}

/**
 * Resize `region` of `img` (black outside the frame) to `size` x `size` RGB, scaled to [-1, 1],
 * written into `out` [size, size, 3].
 */
export function resizeRgb(img: RawImage, size: number, out: Float32Array, region: Region, sampling: Sampling = 'area'): void {
  const { width, height, channels, data } = img;
  const tx = areaTaps(width, size, region.x0, region.width, sampling);
  const ty = areaTaps(height, size, region.y0, region.height, sampling);
  // Horizontal pass: every source row the vertical pass reads -> `size` columns (3 channels, 0..255).
  const tmp = new Float32Array(height * size * 3);
  let rowLo = height;
  let rowHi = -1;
  for (let k = 0; k < ty.idx.length; k++) {
    rowLo = Math.min(rowLo, ty.idx[k]);
    rowHi = Math.max(rowHi, ty.idx[k]);
  }
  for (let y = rowLo; y <= rowHi; y++) {
    const row = y * width * channels;
    const dst = y * size * 3;
    for (let o = 0; o < size; o++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = tx.off[o]; k < tx.off[o + 1]; k++) {
        const i = row + tx.idx[k] * channels;
        const wt = tx.w[k];
        if (channels === 1) {
          const v = data[i] * wt;
          r += v;
          g += v;
          b += v;
        } else {
          r += data[i] * wt;
          g += data[i + 1] * wt;
          b += data[i + 2] * wt;
        }
      }
      tmp[dst + o * 3] = r;
      tmp[dst + o * 3 + 1] = g;
      tmp[dst + o * 3 + 2] = b;
    }
  }
  // Vertical pass, then scale to [-1, 1] (padding, with no source taps, becomes -1: black).
  for (let o = 0; o < size; o++) {
    const dst = o * size * 3;
    out.fill(0, dst, dst + size * 3);
    for (let k = ty.off[o]; k < ty.off[o + 1]; k++) {
      const src = ty.idx[k] * size * 3;
      const wt = ty.w[k];
      for (let j = 0; j < size * 3; j++) out[dst + j] += tmp[src + j] * wt;
    }
    for (let j = 0; j < size * 3; j++) out[dst + j] = out[dst + j] / 127.5 - 1;
  }
}
