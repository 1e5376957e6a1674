/**
 * Drawing results onto an image: an SVG overlay (boxes in per-emotion colours, a label with emotion and
 * gender, and a bar per emotion probability) composited by sharp. Used by `facecls annotate` (PNG) and
 * `facecls video` (raw frames).
 */
import sharp from 'sharp';
import type { RawImage } from '../data/preprocess.js';
import type { FaceResult } from './types.js';
import { EMOTION_COLOURS } from './colours.js';

export { EMOTION_COLOURS };

const DEFAULT_COLOUR = '#00e5ff';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** SVG overlay of the given size with every face drawn. */
export function overlaySvg(width: number, height: number, faces: Array<FaceResult & { track?: number }>): string {
  const parts: string[] = [];
  const unit = Math.max(10, Math.min(width, height) / 40);
  for (const f of faces) {
    const [x, y, w, h] = f.box;
    const colour = f.emotion ? (EMOTION_COLOURS[f.emotion.label] ?? DEFAULT_COLOUR) : DEFAULT_COLOUR;
    const stroke = Math.max(2, Math.round(Math.min(w, h) / 50));
    parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`);
    const bits: string[] = [];
    if (f.track !== undefined) bits.push(`#${f.track}`);
    if (f.emotion) bits.push(`${f.emotion.label} ${Math.round((f.emotion.scores[f.emotion.label] ?? 0) * 100)}%`);
    if (f.gender) bits.push(`${f.gender.label} ${Math.round((f.gender.scores[f.gender.label] ?? 0) * 100)}%`);
    const label = bits.join(' · ');
    const fs = Math.round(unit * 1.2);
    const ty = y - fs * 0.4 > fs ? y - fs * 0.4 : y + h + fs * 1.1;
    if (label) {
      const tw = label.length * fs * 0.6 + fs * 0.5;
      parts.push(`<rect x="${x}" y="${ty - fs}" width="${tw}" height="${fs * 1.3}" fill="#000" fill-opacity="0.6"/>`);
      parts.push(`<text x="${x + fs * 0.25}" y="${ty}" font-family="DejaVu Sans, sans-serif" font-size="${fs}" fill="${colour}">${esc(label)}</text>`);
    }
    if (f.emotion) {
      // Probability bars to the right of the box (left if no room).
      const entries = Object.entries(f.emotion.scores);
      const bh = Math.max(6, Math.round(unit * 0.9));
      const barMax = unit * 6;
      const lw = unit * 4.6;
      const total = lw + barMax + unit * 0.8;
      const bx = x + w + total < width ? x + w + unit * 0.4 : Math.max(0, x - total);
      const bfs = Math.round(bh * 0.9);
      parts.push(`<rect x="${bx}" y="${y}" width="${total}" height="${entries.length * (bh + 2) + 4}" fill="#000" fill-opacity="0.55"/>`);
      entries.forEach(([name, p], i) => {
        const by = y + 2 + i * (bh + 2);
        parts.push(`<text x="${bx + 3}" y="${by + bh - 1}" font-family="DejaVu Sans, sans-serif" font-size="${bfs}" fill="#fff">${esc(name)}</text>`);
        parts.push(`<rect x="${bx + lw}" y="${by}" width="${Math.max(1, p * barMax)}" height="${bh}" fill="${EMOTION_COLOURS[name] ?? DEFAULT_COLOUR}"/>`);
      });
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

function input(img: RawImage) {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.width * img.height * img.channels), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  });
}

/** The image with faces drawn, as PNG. */
export async function annotatePng(img: RawImage, faces: FaceResult[]): Promise<Buffer> {
  const svg = Buffer.from(overlaySvg(img.width, img.height, faces));
  return input(img).composite([{ input: svg, top: 0, left: 0 }]).png().toBuffer();
}

/** The frame with faces drawn, as raw RGB of the same size (for the video encoder). */
export async function annotateRgb(img: RawImage, faces: FaceResult[]): Promise<Buffer> {
  if (faces.length === 0 && img.channels === 3) return Buffer.from(img.data.buffer, img.data.byteOffset, img.width * img.height * 3);
  const svg = Buffer.from(overlaySvg(img.width, img.height, faces));
  return input(img).composite([{ input: svg, top: 0, left: 0 }]).removeAlpha().raw().toBuffer();
}
