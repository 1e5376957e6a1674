/** Generated dataset fixtures for the data, train and eval tests (no real data needed). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';

/** A grey image whose top (label 0) or bottom (label 1) half is bright, plus noise; flip-invariant. */
export function synthPixels(label: number, size: number, rng: Rng): Uint8Array {
  const px = new Uint8Array(size * size);
  const split = Math.round(size * rng.uniform(0.4, 0.6));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const bright = label === 0 ? y < split : y >= split;
      const v = (bright ? 190 : 60) + rng.uniform(-40, 40);
      px[y * size + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return px;
}

export async function pngOf(px: Uint8Array, size: number, channels: 1 | 3 = 1): Promise<Buffer> {
  return sharp(Buffer.from(px), { raw: { width: size, height: size, channels } })
    .png()
    .toBuffer();
}

/** `<root>/<class>/*.png` with the synthetic top/bottom task. */
export async function makeClassFolders(root: string, perClass: number, size = 16, seed = 1, classes = ['top', 'bottom']): Promise<string> {
  const rng = new Rng(seed);
  for (let c = 0; c < classes.length; c++) {
    fs.mkdirSync(path.join(root, classes[c]), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      fs.writeFileSync(path.join(root, classes[c], `img${String(i).padStart(4, '0')}.png`), await pngOf(synthPixels(c % 2, size, rng), size));
    }
  }
  return root;
}

/** A tiny fer2013.csv: `rows` valid rows spread over the three Usage values, plus the malformed ones listed. */
export function makeFerCsv(file: string, rows: Array<{ emotion: number; usage: string; pixels?: number[] }>, extraLines: string[] = []): string {
  const lines = ['emotion,pixels,Usage'];
  for (const r of rows) {
    const px = r.pixels ?? Array.from({ length: 2304 }, (_, i) => (i * 7 + r.emotion * 31) % 256);
    lines.push(`${r.emotion},${px.join(' ')},${r.usage}`);
  }
  lines.push(...extraLines);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Debian's python with numpy/scipy (the pyenv one on PATH lacks them). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function hasScipy(): boolean {
  if (!fs.existsSync(SYSTEM_PYTHON)) return false;
  return spawnSync(SYSTEM_PYTHON, ['-c', 'import scipy.io, numpy'], { encoding: 'utf8' }).status === 0;
}

export function runPython(code: string): void {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
}
