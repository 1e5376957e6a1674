/**
 * THE drawing of results: boxes in per-emotion colours, a label (track, emotion, gender, age) and a panel
 * of emotion probability bars per face, laid out once (layoutFaces: labels and panels are placed clear
 * of every face and of each other where the image has room) and rendered as SVG (annotate, video,
 * server: src/pipeline/annotate.ts composites it with sharp) or onto a 2-D canvas (the page and the
 * browser package). No Node or DOM imports.
 */
import { emotionColour } from './colours.js';
import type { FaceResult } from './types.js';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Drawing primitives: a rectangle (filled and/or outlined) or a line of text (y = baseline). */
export type Shape =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill?: string; opacity?: number; stroke?: string; lineWidth?: number }
  | { kind: 'text'; x: number; y: number; text: string; size: number; fill: string };

export interface FaceLayout {
  face: number;
  colour: string;
  box: Rect;
  /** Label background (text inside); absent when the face has nothing to say. */
  label?: Rect & { text: string; size: number };
  /** Probability bars panel (emotion). */
  bars?: Rect & { rows: Array<{ name: string; p: number }>; barHeight: number; labelWidth: number; barMax: number };
}

type Face = FaceResult & { track?: number };

function labelText(f: Face): string {
  const bits: string[] = [];
  if (f.track !== undefined) bits.push(`#${f.track}`);
  for (const ls of [f.emotion, f.gender]) if (ls) bits.push(`${ls.label} ${Math.round((ls.scores[ls.label] ?? 0) * 100)}%`);
  if (f.age) bits.push(`age ${Math.round(f.age.years)}`);
  return bits.join(' · ');
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Gap between two rectangles (0 when they touch or overlap). */
function distance(a: Rect, b: Rect): number {
  return Math.max(0, a.x - (b.x + b.w), b.x - (a.x + a.w)) + Math.max(0, a.y - (b.y + b.h), b.y - (a.y + a.h));
}

/**
 * A w x h panel for `face`: among the candidate columns x rows (each moved inside the image), the
 * nearest to the face that covers no face and no placed panel (earlier candidates first on ties);
 * when every one covers something, the one covering the least.
 */
function place(w: number, h: number, face: Rect, xs: number[], ys: number[], image: { width: number; height: number }, avoid: Rect[]): Rect {
  let best: Rect | undefined;
  let bestKey = [Infinity, Infinity];
  for (const cy of ys) {
    for (const cx of xs) {
      const r = { x: Math.max(0, Math.min(cx, image.width - w)), y: Math.max(0, Math.min(cy, image.height - h)), w, h };
      const key = [avoid.reduce((s, a) => s + overlap(r, a), 0), distance(r, face)];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) [best, bestKey] = [r, key];
    }
  }
  return best!;
}

/** Rows beyond the placed panels (below and above each), for stacking when the places beside a face are taken. */
function stackedRows(h: number, gap: number, placed: Rect[]): number[] {
  return placed.flatMap((r) => [r.y + r.h + gap, r.y - h - gap]);
}

/** Where every face's box, label and bars go in a width x height image. */
export function layoutFaces(width: number, height: number, faces: readonly Face[]): FaceLayout[] {
  const unit = Math.max(10, Math.min(width, height) / 40);
  const gap = Math.round(unit * 0.4);
  const boxes: Rect[] = faces.map((f) => ({ x: f.box[0], y: f.box[1], w: f.box[2], h: f.box[3] }));
  const placed: Rect[] = [...boxes];
  const out: FaceLayout[] = faces.map((f, i) => ({ face: i, colour: emotionColour(f.emotion?.label), box: boxes[i] }));
  // Labels first (short, read first), above the box, else below, else inside its top.
  faces.forEach((f, i) => {
    const text = labelText(f);
    if (!text) return;
    const { x, y, w, h } = boxes[i];
    const size = Math.round(unit * 1.2);
    const lw = text.length * size * 0.6 + size * 0.5;
    const lh = Math.round(size * 1.3);
    const r = place(lw, lh, boxes[i], [x, x + w - lw], [y - lh - 1, y + h + 1, y, ...stackedRows(lh, 1, placed)], { width, height }, placed);
    placed.push(r);
    out[i].label = { ...r, text, size };
  });
  faces.forEach((f, i) => {
    if (!f.emotion) return;
    const rows = Object.entries(f.emotion.scores).map(([name, p]) => ({ name, p }));
    const barHeight = Math.max(6, Math.round(unit * 0.9));
    const labelWidth = unit * 4.6;
    const barMax = unit * 6;
    const pw = labelWidth + barMax + unit * 0.8;
    const ph = rows.length * (barHeight + 2) + 4;
    const { x, y, w, h } = boxes[i];
    const xs = [x + w + gap, x - pw - gap, x, x + w - pw];
    const r = place(pw, ph, boxes[i], xs, [y, y + h - ph, y + h + gap, y - ph - gap, ...stackedRows(ph, gap, placed)], { width, height }, placed);
    placed.push(r);
    out[i].bars = { ...r, rows, barHeight, labelWidth, barMax };
  });
  return out;
}

/** The drawing of a layout as primitives, in painting order. */
export function layoutShapes(layout: readonly FaceLayout[]): Shape[] {
  const shapes: Shape[] = [];
  for (const l of layout) {
    const { x, y, w, h } = l.box;
    shapes.push({ kind: 'rect', x, y, w, h, stroke: l.colour, lineWidth: Math.max(2, Math.round(Math.min(w, h) / 50)) });
  }
  for (const { label, bars, colour } of layout) {
    if (label) {
      shapes.push({ kind: 'rect', x: label.x, y: label.y, w: label.w, h: label.h, fill: '#000', opacity: 0.6 });
      shapes.push({ kind: 'text', x: label.x + label.size * 0.25, y: label.y + label.size, text: label.text, size: label.size, fill: colour });
    }
    if (bars) {
      shapes.push({ kind: 'rect', x: bars.x, y: bars.y, w: bars.w, h: bars.h, fill: '#000', opacity: 0.55 });
      bars.rows.forEach(({ name, p }, j) => {
        const by = bars.y + 2 + j * (bars.barHeight + 2);
        shapes.push({ kind: 'text', x: bars.x + 3, y: by + bars.barHeight - 1, text: name, size: Math.round(bars.barHeight * 0.9), fill: '#fff' });
        shapes.push({ kind: 'rect', x: bars.x + bars.labelWidth, y: by, w: Math.max(1, p * bars.barMax), h: bars.barHeight, fill: emotionColour(name) });
      });
    }
  }
  return shapes;
}

/** Every face drawn, as primitives for a width x height image. */
export function annotationShapes(width: number, height: number, faces: readonly Face[]): Shape[] {
  return layoutShapes(layoutFaces(width, height, faces));
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const FONT = 'DejaVu Sans, sans-serif';

function svgShape(s: Shape): string {
  if (s.kind === 'text') return `<text x="${s.x}" y="${s.y}" font-family="${FONT}" font-size="${s.size}" fill="${s.fill}">${esc(s.text)}</text>`;
  const paint = s.fill ? `fill="${s.fill}"${s.opacity !== undefined ? ` fill-opacity="${s.opacity}"` : ''}` : 'fill="none"';
  const stroke = s.stroke ? ` stroke="${s.stroke}" stroke-width="${s.lineWidth ?? 1}"` : '';
  return `<rect x="${s.x}" y="${s.y}" width="${s.w}" height="${s.h}" ${paint}${stroke}/>`;
}

/** SVG overlay of the given size with every face drawn. */
export function overlaySvg(width: number, height: number, faces: readonly Face[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${annotationShapes(width, height, faces).map(svgShape).join('')}</svg>`;
}

/** The part of CanvasRenderingContext2D drawing needs (so this module needs no DOM types). */
export interface Canvas2D {
  fillStyle: unknown;
  strokeStyle: unknown;
  lineWidth: number;
  font: string;
  globalAlpha: number;
  fillRect(x: number, y: number, w: number, h: number): void;
  strokeRect(x: number, y: number, w: number, h: number): void;
  fillText(text: string, x: number, y: number): void;
  save(): void;
  restore(): void;
}

/** Draw every face onto a 2-D canvas context of a width x height image (the image itself drawn already). */
export function drawFaces(ctx: Canvas2D, width: number, height: number, faces: readonly Face[]): void {
  ctx.save();
  for (const s of annotationShapes(width, height, faces)) {
    if (s.kind === 'text') {
      ctx.globalAlpha = 1;
      ctx.font = `${s.size}px system-ui, sans-serif`;
      ctx.fillStyle = s.fill;
      ctx.fillText(s.text, s.x, s.y);
      continue;
    }
    if (s.fill) {
      ctx.globalAlpha = s.opacity ?? 1;
      ctx.fillStyle = s.fill;
      ctx.fillRect(s.x, s.y, s.w, s.h);
    }
    if (s.stroke) {
      ctx.globalAlpha = 1;
      ctx.lineWidth = s.lineWidth ?? 1;
      ctx.strokeStyle = s.stroke;
      ctx.strokeRect(s.x, s.y, s.w, s.h);
    }
  }
  ctx.restore();
}
