/**
 * Saliency panels: for each face one row of three cells (the crop, the map in a colour map, the map
 * over the crop) under a caption, rendered to PNG with sharp.
 *
 * The crop cell is re-cropped from the source image at display resolution with the very geometry of
 * the model's crop (preprocessFace, same box and edge replication) in the model's colour space, so it
 * shows what the network saw, only sharper. Maps are bilinearly upsampled from the crop size.
 */
import sharp, { type OverlayOptions } from 'sharp';
import { preprocessFace, type Box, type FaceCrop, type RawImage } from '../data/preprocess.js';
import { colormapLut, type ColormapName } from './colormap.js';

export interface PanelFace {
  /** Display crop: RGB, cell x cell (see displayCrop). */
  crop: Uint8Array;
  /** Map, row-major mapHeight x mapWidth, values in [0, 1]. */
  map: Float32Array;
  mapWidth: number;
  mapHeight: number;
  /** Caption above the row. */
  caption: string;
}

export interface PanelOptions {
  /** Side of each cell in pixels. Default 192. */
  cell?: number;
  colormap?: ColormapName;
  /** Column titles, default ['crop', 'saliency', 'overlay']. */
  columns?: [string, string, string];
  /** Opacity of the map over the crop where the map is 1. Default 0.65. */
  opacity?: number;
  /** Text shown when there are no faces. */
  emptyText?: string;
}

export const DEFAULT_CELL = 192;
const CAPTION = 26;
const COLUMN_TITLES = 22;
const GAP = 6;
const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';

/** RGB bytes of a face crop (a box, or a crop turned by its angle) at display size, cropped exactly like the model input. */
export function displayCrop(img: RawImage, crop: Box | FaceCrop, cell: number, grey: boolean): Uint8Array {
  const { box, angle } = Array.isArray(crop) ? { box: crop, angle: undefined } : crop;
  const f = preprocessFace(img, { inputSize: cell, channels: grey ? 1 : 3, box, ...(angle ? { angle } : {}) });
  const out = new Uint8Array(cell * cell * 3);
  for (let i = 0; i < cell * cell; i++) {
    for (let c = 0; c < 3; c++) {
      const v = grey ? f[i] : f[i * 3 + c];
      out[i * 3 + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    }
  }
  return out;
}

/** Bilinear resize (half-pixel centres) of a single-channel map. */
export function resizeMap(map: Float32Array, w: number, h: number, outW: number, outH: number): Float32Array {
  const out = new Float32Array(outW * outH);
  const sx = w / outW;
  const sy = h / outH;
  for (let y = 0; y < outH; y++) {
    const fy = Math.max(0, Math.min(h - 1, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const ay = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.max(0, Math.min(w - 1, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const ax = fx - x0;
      out[y * outW + x] = (1 - ay) * ((1 - ax) * map[y0 * w + x0] + ax * map[y0 * w + x1]) + ay * ((1 - ax) * map[y1 * w + x0] + ax * map[y1 * w + x1]);
    }
  }
  return out;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The map and overlay cells (RGB bytes, cell x cell) for one face. */
export function mapCells(face: PanelFace, cell: number, colormap: ColormapName, opacity: number): { map: Uint8Array; overlay: Uint8Array } {
  const lut = colormapLut(colormap);
  const m = resizeMap(face.map, face.mapWidth, face.mapHeight, cell, cell);
  const map = new Uint8Array(cell * cell * 3);
  const overlay = new Uint8Array(cell * cell * 3);
  for (let i = 0; i < cell * cell; i++) {
    const v = Number.isFinite(m[i]) ? Math.max(0, Math.min(1, m[i])) : 0;
    const li = Math.round(v * 255) * 3;
    const a = opacity * v;
    for (let c = 0; c < 3; c++) {
      map[i * 3 + c] = lut[li + c];
      overlay[i * 3 + c] = Math.round((1 - a) * face.crop[i * 3 + c] + a * lut[li + c]);
    }
  }
  return { map, overlay };
}

/** One PNG with a row per face. */
export async function renderSaliencyPanel(faces: PanelFace[], opts: PanelOptions = {}): Promise<Buffer> {
  const cell = opts.cell ?? DEFAULT_CELL;
  const colormap = opts.colormap ?? 'turbo';
  const opacity = opts.opacity ?? 0.65;
  const titles = opts.columns ?? ['crop', 'saliency', 'overlay'];
  const width = 3 * cell + 4 * GAP;
  const rowH = CAPTION + cell + GAP;
  const height = COLUMN_TITLES + Math.max(1, faces.length) * rowH;
  const composites: OverlayOptions[] = [];
  const text: string[] = titles.map(
    (t, k) =>
      `<text x="${GAP + k * (cell + GAP) + cell / 2}" y="16" text-anchor="middle" font-family="${FONT}" font-size="14" fill="#bbb">${escapeXml(t)}</text>`,
  );
  for (let r = 0; r < faces.length; r++) {
    const face = faces[r];
    if (face.crop.length !== cell * cell * 3) throw new Error(`face ${r + 1}: display crop is not ${cell}x${cell} RGB`);
    const top = COLUMN_TITLES + r * rowH + CAPTION;
    const { map, overlay } = mapCells(face, cell, colormap, opacity);
    [face.crop, map, overlay].forEach((buf, k) => {
      composites.push({
        input: Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength),
        raw: { width: cell, height: cell, channels: 3 },
        left: GAP + k * (cell + GAP),
        top,
      });
    });
    text.push(`<text x="${GAP}" y="${top - 8}" font-family="${FONT}" font-size="15" fill="#fff">${escapeXml(face.caption)}</text>`);
  }
  if (faces.length === 0) {
    text.push(
      `<text x="${GAP}" y="${COLUMN_TITLES + 20}" font-family="${FONT}" font-size="15" fill="#fff">${escapeXml(opts.emptyText ?? 'no faces found')}</text>`,
    );
  }
  composites.push({
    input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join('')}</svg>`),
    left: 0,
    top: 0,
  });
  return sharp({ create: { width, height, channels: 3, background: '#1e1e1e' } })
    .composite(composites)
    .png()
    .toBuffer();
}
