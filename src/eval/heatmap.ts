/** Confusion-matrix heatmap (row-normalised colours, counts and row percentages) as SVG -> PNG. */
import { svgToPng } from '../train/plot.js';

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** White -> blue colour for a fraction in [0, 1]. */
function blue(f: number): string {
  const t = Math.max(0, Math.min(1, f));
  const r = Math.round(247 - t * (247 - 8));
  const g = Math.round(251 - t * (251 - 48));
  const b = Math.round(255 - t * (255 - 107));
  return `rgb(${r},${g},${b})`;
}

export function confusionSvg(confusion: number[][], labels: string[], title: string): string {
  const k = labels.length;
  const cell = Math.max(44, Math.min(90, Math.floor(640 / k)));
  const left = 110;
  const top = 70;
  const width = left + k * cell + 30;
  const height = top + k * cell + 60;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  parts.push(`<text x="${left + (k * cell) / 2}" y="${height - 14}" text-anchor="middle">predicted</text>`);
  parts.push(`<text x="16" y="${top + (k * cell) / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + (k * cell) / 2})">true</text>`);
  for (let i = 0; i < k; i++) {
    const rowSum = confusion[i].reduce((a, b) => a + b, 0);
    parts.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${esc(labels[i])}</text>`);
    parts.push(`<text x="${left + i * cell + cell / 2}" y="${top - 8}" text-anchor="middle">${esc(labels[i])}</text>`);
    for (let j = 0; j < k; j++) {
      const f = rowSum ? confusion[i][j] / rowSum : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${blue(f)}" stroke="#ccc"/>`);
      const fill = f > 0.5 ? 'white' : 'black';
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 - 2}" text-anchor="middle" fill="${fill}">${confusion[i][j]}</text>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 13}" text-anchor="middle" fill="${fill}" font-size="10">${(f * 100).toFixed(1)}%</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export async function confusionPng(confusion: number[][], labels: string[], title: string): Promise<Buffer> {
  return svgToPng(confusionSvg(confusion, labels, title));
}

/** Plain-text confusion matrix (rows = true, columns = predicted). */
export function confusionText(confusion: number[][], labels: string[]): string {
  const w = Math.max(8, ...labels.map((l) => l.length + 1), ...confusion.flat().map((v) => String(v).length + 1));
  const head = 'true \\ pred'.padEnd(w + 3) + labels.map((l) => l.padStart(w)).join('');
  const rows = confusion.map((r, i) => labels[i].padEnd(w + 3) + r.map((v) => String(v).padStart(w)).join(''));
  return [head, ...rows].join('\n');
}
