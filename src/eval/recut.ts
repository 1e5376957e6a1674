/**
 * Framing stress for validation: a face crop cut again the way other sources cut faces (web crops,
 * other datasets' alignment, detector boxes): looser or tighter, not square, off-centre. Seeded per
 * sample, so two models or two framings are compared on the same re-cuts. Pixels outside the
 * original crop are edge-replicated (the crop holds no more context).
 */
import type { RawImage } from '../data/preprocess.js';
import { deriveSeed, Rng } from '../data/rng.js';

export interface RecutRange {
  /** Side of the new crop relative to the old one: uniform in [min, max]. */
  scale: [number, number];
  /** Width / height of the new crop: log-uniform in [1 / aspect, aspect]. */
  aspect: number;
  /** Centre shift, fraction of the side, uniform in [-shift, shift] per axis. */
  shift: number;
  /** In-plane tilt of the face, degrees, uniform in [-rotation, rotation] (0 = upright cuts). */
  rotation?: number;
}

export const DEFAULT_RECUT: RecutRange = { scale: [0.75, 1.45], aspect: 1.3, shift: 0.08 };

/** The re-cut of sample `index` under `seed`: nearest-pixel copy (no resampling blur), edges replicated. */
export function recutCrop(img: RawImage, seed: number, index: number, r: RecutRange = DEFAULT_RECUT): RawImage {
  const rng = new Rng(deriveSeed(seed, index));
  const s = rng.uniform(r.scale[0], r.scale[1]);
  const a = Math.exp(rng.uniform(-1, 1) * Math.log(r.aspect));
  const side = Math.sqrt(img.width * img.height) * s;
  const w = Math.max(4, Math.round(side * Math.sqrt(a)));
  const h = Math.max(4, Math.round(side / Math.sqrt(a)));
  const cx = img.width / 2 + rng.uniform(-r.shift, r.shift) * img.width;
  const cy = img.height / 2 + rng.uniform(-r.shift, r.shift) * img.height;
  // Drawn last, so cuts without rotation are the same as before it existed.
  const t = r.rotation ? (rng.uniform(-r.rotation, r.rotation) * Math.PI) / 180 : 0;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const c = img.channels;
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x - w / 2;
      const v = y - h / 2;
      const sx = Math.min(img.width - 1, Math.max(0, Math.round(cx + cos * u - sin * v)));
      const sy = Math.min(img.height - 1, Math.max(0, Math.round(cy + sin * u + cos * v)));
      const si = (sy * img.width + sx) * c;
      const di = (y * w + x) * c;
      for (let k = 0; k < c; k++) out[di + k] = img.data[si + k];
    }
  }
  return { data: out, width: w, height: h, channels: c };
}
