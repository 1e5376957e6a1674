/**
 * Common shape of every dataset the loaders produce: labelled samples (an image file, or inline
 * pixels for the FER-2013 CSV) grouped into train / val / test splits, plus what was skipped and why.
 */
import type { Box, RawImage } from './preprocess.js';
import { hashString } from './rng.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

/** Split names users may type: ours and FER-2013's official ones. */
export const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  publictest: 'val',
  test: 'test',
  privatetest: 'test',
};

export type DatasetFormat = 'fer2013-csv' | 'fer2013-folders' | 'utkface' | 'imdb-wiki' | 'rafdb' | 'folders';

export const RACES = ['white', 'black', 'asian', 'indian', 'others'] as const;

/** Per-sample attributes used for per-group metrics (UTKFace, IMDB-WIKI). */
export interface SampleMeta {
  age?: number;
  gender?: 'woman' | 'man';
  race?: string;
}

export interface Sample {
  /** Human-readable identity used in messages: a file path or `fer2013.csv:line N`. */
  id: string;
  label: number;
  /** Encoded image file to decode. */
  file?: string;
  /** Inline pixels (FER-2013 CSV rows). */
  pixels?: RawImage;
  /** Face region inside the image; default the whole image. */
  box?: Box;
  meta?: SampleMeta;
}

export interface Skipped {
  id: string;
  reason: string;
}

export interface SplitRecord {
  method: string;
  seed?: number;
  fractions?: { val: number; test: number };
  counts: Record<SplitName, number>;
  /** Sample ids per split (file names relative to the dataset root), so the split is auditable. */
  ids?: Record<SplitName, string[]>;
}

export interface Dataset {
  format: DatasetFormat;
  root: string;
  labels: string[];
  splits: Record<SplitName, Sample[]>;
  /** Entries dropped while reading the index (malformed rows, unparsable names, filtered faces). */
  skipped: Skipped[];
  /** Entries removed by documented filters (e.g. IMDB-WIKI face_score), counted but not errors. */
  filtered?: Record<string, number>;
  split: SplitRecord;
}

export interface HashSplitOptions {
  seed: number;
  val: number;
  test: number;
}

export const DEFAULT_SPLIT: HashSplitOptions = { seed: 1337, val: 0.1, test: 0.1 };

/**
 * Deterministic stratified split. Within each stratum (e.g. gender), samples are ordered by a
 * seeded hash of their key (file name) and the first `test` fraction goes to test, the next `val`
 * fraction to val, the rest to train. The result depends only on the seed and the file names, not
 * on directory order or on which other files exist, so adding files never moves existing ones
 * between test and train except within their hash order.
 */
export function hashSplit<T>(items: T[], key: (t: T) => string, stratum: (t: T) => string | number, opts: HashSplitOptions): Record<SplitName, T[]> {
  const groups = new Map<string | number, Array<{ h: number; k: string; t: T }>>();
  for (const t of items) {
    const s = stratum(t);
    const k = key(t);
    let g = groups.get(s);
    if (!g) groups.set(s, (g = []));
    g.push({ h: hashString(k, opts.seed), k, t });
  }
  const out: Record<SplitName, T[]> = { train: [], val: [], test: [] };
  for (const s of [...groups.keys()].sort()) {
    const g = groups.get(s)!;
    g.sort((a, b) => a.h - b.h || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    const nTest = Math.round(g.length * opts.test);
    const nVal = Math.round(g.length * opts.val);
    g.forEach((e, i) => (i < nTest ? out.test : i < nTest + nVal ? out.val : out.train).push(e.t));
  }
  return out;
}

export function splitCounts(splits: Record<SplitName, unknown[]>): Record<SplitName, number> {
  return { train: splits.train.length, val: splits.val.length, test: splits.test.length };
}

/** Count of samples per label index. */
export function labelCounts(samples: Sample[], numLabels: number): number[] {
  const c = new Array<number>(numLabels).fill(0);
  for (const s of samples) c[s.label]++;
  return c;
}

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

export function isImageFile(name: string): boolean {
  const n = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => n.endsWith(e));
}
