/** Line charts of training curves as SVG, rendered to PNG by sharp (librsvg). */
import sharp from 'sharp';
import { writeFileAtomic } from '../io/fs-handler.js';

export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function lineChartSvg(title: string, xLabel: string, series: Series[], width = 720, height = 420): string {
  const m = { l: 64, r: 150, t: 40, b: 48 };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys, Infinity);
  let y1 = Math.max(...ys, -Infinity);
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(x0, x1, 8).filter((t) => x1 - x0 <= 2 || Number.isInteger(t))) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    parts.push(`<text x="${sx(t)}" y="${m.t + ph + 18}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  series.forEach((s, i) => {
    const good = s.points.filter(([, y]) => Number.isFinite(y));
    if (good.length) {
      const d = good.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      if (good.length === 1) parts.push(`<circle cx="${sx(good[0][0])}" cy="${sy(good[0][1])}" r="3" fill="${s.color}"/>`);
    }
    const ly = m.t + 14 + i * 20;
    parts.push(`<line x1="${m.l + pw + 12}" x2="${m.l + pw + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${m.l + pw + 42}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { limitInputPixels: 50_000_000 }).png().toBuffer();
}

/** Render a chart to a PNG file atomically. */
export async function writeChartPng(file: string, title: string, xLabel: string, series: Series[]): Promise<void> {
  writeFileAtomic(file, await svgToPng(lineChartSvg(title, xLabel, series)));
}
