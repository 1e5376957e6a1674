/**
 * On-the-fly augmentation of model-size uint8 images, pure TypeScript (a FER-2013 epoch augments
 * 28,709 images). One inverse affine warp (rotation, zoom, shift; bilinear, edges replicated like
 * Keras' fill_mode='nearest'), then brightness / contrast and optional cutout. Horizontal flip is
 * returned as a flag and applied by preprocessFace while scaling to [-1, 1], so the same function
 * that serves inference turns the augmented pixels into model input.
 */
import type { RawImage } from '../data/preprocess.js';
import type { Rng } from '../data/rng.js';
import { jpegRecompress } from './jpeg-artifacts.js';

export interface AugmentOptions {
  /** Max rotation in degrees (paper: 10). */
  rotation: number;
  /** Max shift as a fraction of the side (paper: 0.1). */
  shift: number;
  /** Max zoom as a fraction (paper: 0.1): scale in [1 - zoom, 1 + zoom]. */
  zoom: number;
  /** Random horizontal flip (paper: yes). */
  flip: boolean;
  /** Max brightness change as a fraction of full scale (added). */
  brightness: number;
  /** Max contrast change as a fraction (multiplied around the image mean). */
  contrast: number;
  /** Cutout: side of a square set to mid-grey, as a fraction of the image side; 0 = off. */
  cutout: number;
  /**
   * Aspect jitter: the horizontal and vertical scales differ by a factor up to 1 + aspect (framing of
   * web crops and detector boxes that are not square around the face); 0 = off.
   */
  aspect?: number;
  /** Gamma: pixel values raised to exp(u), u uniform in [-gamma, gamma]; 0 = off. */
  gamma?: number;
  /** Blur: half of the images get a Gaussian blur of sigma uniform in [0, blur] pixels (model input scale); 0 = off. */
  blur?: number;
  /** Noise: half of the images get Gaussian noise of standard deviation uniform in [0, noise] (fraction of full scale); 0 = off. */
  noise?: number;
  /** RGB models: probability of turning the image grey (luma in every channel); 0 = off. */
  grey?: number;
  /** Probability of a JPEG re-compression at a quality uniform in JPEG_QUALITY (after blur and noise); 0 = off. */
  jpeg?: number;
}

/** Qualities drawn by the JPEG re-compression: from heavily compressed web images to a camera's default. */
export const JPEG_QUALITY: readonly [number, number] = [20, 90];

export const PAPER_AUGMENT: AugmentOptions = { rotation: 10, shift: 0.1, zoom: 0.1, flip: true, brightness: 0.1, contrast: 0.1, cutout: 0 };
export const NO_AUGMENT: AugmentOptions = { rotation: 0, shift: 0, zoom: 0, flip: false, brightness: 0, contrast: 0, cutout: 0 };

/**
 * Robustness preset (chosen on validation, see README): the paper's geometry widened for framing
 * (zoom 0.2, aspect 0.15: loose and tight crops, non-square boxes), rotation 15, and the image-quality
 * changes of photos from other sources (gamma, blur, noise, contrast, grey for RGB models).
 */
export const ROBUST_AUGMENT: AugmentOptions = {
  rotation: 15,
  shift: 0.1,
  zoom: 0.2,
  flip: true,
  brightness: 0.15,
  contrast: 0.25,
  cutout: 0,
  aspect: 0.15,
  gamma: 0.35,
  blur: 1.2,
  noise: 0.04,
  grey: 0.2,
};

/** The named augmentation presets of `facecls train --augment`. */
export const AUGMENT_PRESETS = { paper: PAPER_AUGMENT, robust: ROBUST_AUGMENT, none: NO_AUGMENT } as const;
export type AugmentPreset = keyof typeof AUGMENT_PRESETS;

const ROBUSTNESS_KEYS = ['aspect', 'gamma', 'blur', 'noise', 'grey', 'jpeg'] as const;

/**
 * A preset with some of its values replaced. The robustness options (aspect, gamma, blur, noise, grey,
 * jpeg) are kept only when on, so the configs of runs without them stay as they were.
 */
export function augmentFrom(preset: AugmentPreset, overrides: Partial<AugmentOptions> = {}): AugmentOptions {
  const base = AUGMENT_PRESETS[preset];
  const pick = <K extends keyof AugmentOptions>(k: K): AugmentOptions[K] => overrides[k] ?? base[k];
  const out: AugmentOptions = {
    rotation: pick('rotation'),
    shift: pick('shift'),
    zoom: pick('zoom'),
    flip: pick('flip'),
    brightness: pick('brightness'),
    contrast: pick('contrast'),
    cutout: pick('cutout'),
  };
  for (const k of ROBUSTNESS_KEYS) {
    const v = pick(k) ?? 0;
    if (v !== 0) out[k] = v;
  }
  return out;
}

export function isIdentity(a: AugmentOptions): boolean {
  return (
    !a.rotation &&
    !a.shift &&
    !a.zoom &&
    !a.flip &&
    !a.brightness &&
    !a.contrast &&
    !a.cutout &&
    !a.aspect &&
    !a.gamma &&
    !a.blur &&
    !a.noise &&
    !a.grey &&
    !a.jpeg
  );
}

/**
 * Augment `src` (square, model size) into `dst` (same size and channels). Returns whether the
 * caller should mirror the image (flip) when scaling it with preprocessFace.
 */
export function augmentImage(src: RawImage, dst: Uint8Array, rng: Rng, a: AugmentOptions): { flip: boolean } {
  const { width: w, height: h, channels: c, data } = src;
  const theta = ((rng.uniform(-a.rotation, a.rotation) || 0) * Math.PI) / 180;
  const z = a.zoom ? rng.uniform(1 - a.zoom, 1 + a.zoom) : 1;
  const tx = a.shift ? rng.uniform(-a.shift, a.shift) * w : 0;
  const ty = a.shift ? rng.uniform(-a.shift, a.shift) * h : 0;
  const gain = a.contrast ? rng.uniform(1 - a.contrast, 1 + a.contrast) : 1;
  const bias = a.brightness ? rng.uniform(-a.brightness, a.brightness) * 255 : 0;
  const flip = a.flip ? rng.next() < 0.5 : false;
  const cut = a.cutout > 0 ? Math.max(1, Math.round(a.cutout * Math.min(w, h))) : 0;
  const cutX = cut ? rng.int(w) - Math.floor(cut / 2) : 0;
  const cutY = cut ? rng.int(h) - Math.floor(cut / 2) : 0;
  // Draws of the options added later happen only when they are on, so older runs replay exactly.
  const asp = a.aspect ? Math.exp(rng.uniform(-1, 1) * Math.log(1 + a.aspect)) : 1;
  const zx = z * Math.sqrt(asp);
  const zy = z / Math.sqrt(asp);

  const warp = theta !== 0 || zx !== 1 || zy !== 1 || tx !== 0 || ty !== 0;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  // Inverse map: source = centre + Z * R(theta) * (dest - centre) - shift, Z = diag(zx, zy).
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  let mean = 0;
  if (gain !== 1) {
    for (let i = 0; i < w * h * c; i++) mean += data[i];
    mean /= w * h * c;
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * c;
      if (!warp) {
        for (let k = 0; k < c; k++) dst[o + k] = data[o + k];
      } else {
        const u = x - cx;
        const v = y - cy;
        let sx = cx + zx * (cos * u - sin * v) - tx;
        let sy = cy + zy * (sin * u + cos * v) - ty;
        sx = sx < 0 ? 0 : sx > w - 1 ? w - 1 : sx;
        sy = sy < 0 ? 0 : sy > h - 1 ? h - 1 : sy;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = x0 + 1 < w ? x0 + 1 : x0;
        const y1 = y0 + 1 < h ? y0 + 1 : y0;
        const ax = sx - x0;
        const ay = sy - y0;
        for (let k = 0; k < c; k++) {
          const p00 = data[(y0 * w + x0) * c + k];
          const p01 = data[(y0 * w + x1) * c + k];
          const p10 = data[(y1 * w + x0) * c + k];
          const p11 = data[(y1 * w + x1) * c + k];
          dst[o + k] = (1 - ay) * ((1 - ax) * p00 + ax * p01) + ay * ((1 - ax) * p10 + ax * p11) + 0.5;
        }
      }
      if (gain !== 1 || bias !== 0) {
        for (let k = 0; k < c; k++) {
          const v = (dst[o + k] - mean) * gain + mean + bias + 0.5;
          dst[o + k] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
      if (cut && x >= cutX && x < cutX + cut && y >= cutY && y < cutY + cut) {
        for (let k = 0; k < c; k++) dst[o + k] = 128;
      }
    }
  }
  photometric(dst, w, h, c, rng, a);
  return { flip };
}

/** Gamma, blur, noise, JPEG and grey (the options added for robustness), in place on `dst`. */
function photometric(dst: Uint8Array, w: number, h: number, c: number, rng: Rng, a: AugmentOptions): void {
  const n = w * h * c;
  if (a.gamma) {
    const g = Math.exp(rng.uniform(-a.gamma, a.gamma));
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.round(255 * Math.pow(v / 255, g));
    for (let i = 0; i < n; i++) dst[i] = lut[dst[i]];
  }
  if (a.blur && rng.next() < 0.5) gaussianBlur(dst, w, h, c, rng.uniform(0, a.blur));
  if (a.noise && rng.next() < 0.5) {
    const sd = rng.uniform(0, a.noise) * 255;
    for (let i = 0; i < n; i++) {
      const v = dst[i] + sd * rng.normal() + 0.5;
      dst[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  if (a.jpeg && rng.next() < a.jpeg) jpegRecompress(dst, w, h, c, rng.uniform(JPEG_QUALITY[0], JPEG_QUALITY[1]));
  if (a.grey && c === 3 && rng.next() < a.grey) {
    for (let i = 0; i < n; i += 3) {
      const v = 0.299 * dst[i] + 0.587 * dst[i + 1] + 0.114 * dst[i + 2] + 0.5;
      dst[i] = dst[i + 1] = dst[i + 2] = v;
    }
  }
}

/** Separable Gaussian blur of standard deviation `sigma` pixels (edges replicated), in place. */
export function gaussianBlur(img: Uint8Array, w: number, h: number, c: number, sigma: number): void {
  if (!(sigma > 0.2)) return;
  const r = Math.max(1, Math.ceil(2.5 * sigma));
  const k = new Float64Array(2 * r + 1);
  let ks = 0;
  for (let i = -r; i <= r; i++) ks += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= ks;
  const tmp = new Float32Array(w * h * c);
  const clampI = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += k[i + r] * img[(y * w + clampI(x + i, w - 1)) * c + ch];
        tmp[(y * w + x) * c + ch] = acc;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += k[i + r] * tmp[(clampI(y + i, h - 1) * w + x) * c + ch];
        img[(y * w + x) * c + ch] = acc + 0.5;
      }
    }
  }
}
