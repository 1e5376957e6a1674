/**
 * Colour maps for saliency heat maps. Turbo (Google's perceptually smoother rainbow, polynomial
 * fit by its author) is the default; `heat` (black-red-yellow-white) suits print.
 */
export type ColormapName = 'turbo' | 'heat';
export const COLORMAPS: readonly ColormapName[] = ['turbo', 'heat'];

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function turbo(t: number): [number, number, number] {
  const r = 0.13572138 + t * (4.6153926 + t * (-42.66032258 + t * (132.13108234 + t * (-152.94239396 + t * 59.28637943))));
  const g = 0.09140261 + t * (2.19418839 + t * (4.84296658 + t * (-14.18503333 + t * (4.27729857 + t * 2.82956604))));
  const b = 0.1066733 + t * (12.64194608 + t * (-60.58204836 + t * (110.36276771 + t * (-89.90310912 + t * 27.34824973))));
  return [clamp01(r), clamp01(g), clamp01(b)];
}

function heat(t: number): [number, number, number] {
  const s = t * 3;
  return [clamp01(s), clamp01(s - 1), clamp01(s - 2)];
}

const luts = new Map<ColormapName, Uint8Array>();

/** 256-entry RGB lookup table of a colour map. */
export function colormapLut(name: ColormapName = 'turbo'): Uint8Array {
  let lut = luts.get(name);
  if (!lut) {
    lut = new Uint8Array(256 * 3);
    const f = name === 'heat' ? heat : turbo;
    for (let i = 0; i < 256; i++) {
      const c = f(i / 255);
      for (let k = 0; k < 3; k++) lut[i * 3 + k] = Math.round(c[k] * 255);
    }
    luts.set(name, lut);
  }
  return lut;
}

/** Colour of a value in [0, 1] (clamped; NaN maps to 0). */
export function colorOf(v: number, name: ColormapName = 'turbo'): [number, number, number] {
  const lut = colormapLut(name);
  const i = Math.round(clamp01(Number.isNaN(v) ? 0 : v) * 255) * 3;
  return [lut[i], lut[i + 1], lut[i + 2]];
}
