/**
 * Renders saliency maps as one PNG: a row per face with the model's input crop, the map (heat
 * colours) and the map over the crop, plus the explained class.
 */
import sharp, { type OverlayOptions } from 'sharp';
import type { SaliencyMethod } from './pipeline.js';

export interface FaceMap {
  /** Preprocessed crop [size, size, channels] in [-1, 1]. */
  crop: Float32Array;
  /** Map [size, size] in [0, 1]. */
  map: Float32Array;
  label: string;
  probability: number;
}

const CELL = 160;
const HEADER = 28;

/** Heat colour of v in [0, 1] (black -> red -> yellow -> white). */
export function heat(v: number): [number, number, number] {
  const t = Math.max(0, Math.min(1, v)) * 3;
  return [Math.min(1, t), Math.min(1, Math.max(0, t - 1)), Math.max(0, t - 2)].map((c) => Math.round(c * 255)) as [number, number, number];
}

function cells(face: FaceMap, size: number, channels: number): { crop: Buffer; map: Buffer; overlay: Buffer } {
  const n = size * size;
  const crop = Buffer.alloc(n * 3);
  const map = Buffer.alloc(n * 3);
  const overlay = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const g = (c: number) => Math.round((face.crop[i * channels + (channels === 3 ? c : 0)] + 1) * 127.5);
    const h = heat(face.map[i]);
    const a = 0.6 * face.map[i];
    for (let c = 0; c < 3; c++) {
      crop[i * 3 + c] = g(c);
      map[i * 3 + c] = h[c];
      overlay[i * 3 + c] = Math.round((1 - a) * g(c) + a * h[c]);
    }
  }
  return { crop, map, overlay };
}

export async function saliencyPanelPng(faces: FaceMap[], opts: { inputSize: number; channels: number; labels: string[]; method: SaliencyMethod }): Promise<Buffer> {
  const width = CELL * 3;
  const rows = Math.max(1, faces.length);
  const height = rows * (CELL + HEADER);
  const composites: OverlayOptions[] = [];
  const text: string[] = [];
  for (let r = 0; r < faces.length; r++) {
    const c = cells(faces[r], opts.inputSize, opts.channels);
    const top = r * (CELL + HEADER) + HEADER;
    for (const [k, buf] of [c.crop, c.map, c.overlay].entries()) {
      const png = await sharp(buf, { raw: { width: opts.inputSize, height: opts.inputSize, channels: 3 } })
        .resize(CELL, CELL, { kernel: 'nearest' })
        .png()
        .toBuffer();
      composites.push({ input: png, left: k * CELL, top });
    }
    text.push(
      `<text x="6" y="${top - 8}" font-family="DejaVu Sans, sans-serif" font-size="15" fill="#fff">face ${r + 1}: ${opts.method} for "${faces[r].label}" (p=${faces[r].probability.toFixed(2)})</text>`,
    );
  }
  if (faces.length === 0) text.push(`<text x="6" y="${HEADER}" font-family="DejaVu Sans, sans-serif" font-size="15" fill="#fff">no faces found</text>`);
  composites.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join('')}</svg>`), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: '#202020' } }).composite(composites).png().toBuffer();
}
