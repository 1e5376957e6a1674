/**
 * FER-2013, in both forms users have:
 *  - the original `fer2013.csv` (columns emotion,pixels,Usage; 2304 grey values per row);
 *  - the Kaggle image folders `{train,test}/<class>/*.jpg`, split by file-name prefix.
 * Official protocol: train = Training, val = PublicTest, test = PrivateTest.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { UserError } from '../errors.js';
import { EMOTION_LABELS } from '../io/model-store.js';
import { isImageFile, splitCounts, type Dataset, type Sample, type Skipped, type SplitName } from './dataset.js';

const USAGE_TO_SPLIT: Record<string, SplitName> = { Training: 'train', PublicTest: 'val', PrivateTest: 'test' };
const SIDE = 48;

/**
 * The fields of one CSV line (RFC 4180 quoting: a field in double quotes may hold commas, and "" is a
 * quote), or an error naming what is wrong. Some copies of fer2013.csv quote the pixels field.
 */
export function splitCsvLine(line: string): string[] | { error: string } {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return { error: `field ${fields.length + 1} opens a quote that is never closed` };
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(v);
      if (i < line.length && line[i] !== ',') return { error: `field ${fields.length} has text after its closing quote` };
    } else {
      const c = line.indexOf(',', i);
      const v = c < 0 ? line.slice(i) : line.slice(i, c);
      if (v.includes('"')) return { error: `field ${fields.length + 1} has a quote inside an unquoted value` };
      fields.push(v);
      i = c < 0 ? line.length : c;
    }
    if (i >= line.length) return fields;
    i++; // the comma
    if (i === line.length) {
      fields.push('');
      return fields;
    }
  }
}

/** Parse the original CSV. Malformed rows are skipped and listed; a missing column is an error. */
export async function loadFer2013Csv(file: string): Promise<Dataset> {
  if (!fs.existsSync(file)) throw new UserError(`FER-2013 CSV "${file}" does not exist`);
  const splits: Record<SplitName, Sample[]> = { train: [], val: [], test: [] };
  const skipped: Skipped[] = [];
  const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  let cols: { emotion: number; pixels: number; usage: number } | undefined;
  for await (const raw of rl) {
    lineNo++;
    const line = raw.trim();
    if (!cols) {
      const header = line
        .replace(/^\uFEFF/, '')
        .split(',')
        .map((h) => h.trim().toLowerCase());
      const emotion = header.indexOf('emotion');
      const pixels = header.indexOf('pixels');
      const usage = header.indexOf('usage');
      if (emotion < 0 || pixels < 0 || usage < 0) {
        rl.close();
        throw new UserError(`"${file}" is not a FER-2013 CSV: the header must name the columns emotion, pixels and Usage, got "${raw.slice(0, 80)}"`);
      }
      cols = { emotion, pixels, usage };
      continue;
    }
    if (line === '') continue;
    const id = `${path.basename(file)}:${lineNo}`;
    const bad = (reason: string) => skipped.push({ id, reason });
    const f = splitCsvLine(line);
    if (!Array.isArray(f)) {
      bad(`not a CSV row: ${f.error}`);
      continue;
    }
    if (f.length !== 3) {
      bad(`expected 3 fields, got ${f.length}`);
      continue;
    }
    const emo = Number(f[cols.emotion]);
    if (!Number.isInteger(emo) || emo < 0 || emo >= EMOTION_LABELS.length || f[cols.emotion].trim() === '') {
      bad(`emotion "${f[cols.emotion]}" is not an integer 0..6`);
      continue;
    }
    const split = USAGE_TO_SPLIT[f[cols.usage].trim()];
    if (!split) {
      bad(`Usage "${f[cols.usage]}" is not Training, PublicTest or PrivateTest`);
      continue;
    }
    const vals = f[cols.pixels].trim().split(/\s+/);
    if (vals.length !== SIDE * SIDE) {
      bad(`${vals.length} pixel values, expected ${SIDE * SIDE}`);
      continue;
    }
    const data = new Uint8Array(SIDE * SIDE);
    let ok = true;
    for (let i = 0; i < vals.length; i++) {
      const v = Number(vals[i]);
      if (!Number.isInteger(v) || v < 0 || v > 255) {
        ok = false;
        break;
      }
      data[i] = v;
    }
    if (!ok) {
      bad('pixel values must be integers 0..255');
      continue;
    }
    splits[split].push({ id, label: emo, pixels: { data, width: SIDE, height: SIDE, channels: 1 } });
  }
  if (!cols) throw new UserError(`FER-2013 CSV "${file}" is empty`);
  return officialSplitDataset('fer2013-csv', file, splits, skipped, 'Usage column');
}

/** A FER-2013 dataset split as published: Training -> train, PublicTest -> val, PrivateTest -> test, read from `source`. */
function officialSplitDataset(
  format: 'fer2013-csv' | 'fer2013-folders',
  root: string,
  splits: Record<SplitName, Sample[]>,
  skipped: Skipped[],
  source: 'Usage column' | 'file-name prefix',
): Dataset {
  const [t, v, p] = source === 'Usage column' ? ['Training', 'PublicTest', 'PrivateTest'] : ['Training_', 'PublicTest_', 'PrivateTest_'];
  return {
    format,
    root,
    labels: [...EMOTION_LABELS],
    splits,
    skipped,
    split: { method: `official FER-2013 ${source}: ${t} -> train, ${v} -> val, ${p} -> test`, counts: splitCounts(splits) },
  };
}

/** True when `dir` looks like the Kaggle layout: train/ or test/ holding emotion class folders. */
export function isFer2013Folders(dir: string): boolean {
  for (const sub of ['train', 'test']) {
    const d = path.join(dir, sub);
    if (fs.existsSync(d) && fs.statSync(d).isDirectory()) {
      const names = fs.readdirSync(d);
      const classes = names.filter((n) => (EMOTION_LABELS as readonly string[]).includes(n.toLowerCase()));
      if (classes.length < 5) continue;
      // FER-2013's files carry their official split as a name prefix; other emotion folders (e.g. RAF-DB's
      // train/<class>/) go through the generic folders loader.
      const files = classes.flatMap((c) => fs.readdirSync(path.join(d, c)).filter(isImageFile).slice(0, 20));
      if (files.length > 0 && files.filter((f) => USAGE_TO_SPLIT[f.split('_')[0]]).length >= files.length * 0.8) return true;
    }
  }
  return false;
}

/**
 * Kaggle image folders. Split by prefix: Training_ -> train, PublicTest_ -> val, PrivateTest_ -> test.
 * Files without one of these prefixes are listed as skipped (the official split cannot place them).
 */
export function loadFer2013Folders(dir: string): Dataset {
  if (!isFer2013Folders(dir))
    throw new UserError(`"${dir}" is not a FER-2013 image-folder dataset: expected train/<class>/ and test/<class>/ with classes ${EMOTION_LABELS.join(', ')}`);
  const splits: Record<SplitName, Sample[]> = { train: [], val: [], test: [] };
  const skipped: Skipped[] = [];
  for (const sub of ['train', 'test']) {
    const d = path.join(dir, sub);
    if (!fs.existsSync(d)) continue;
    for (const cls of fs.readdirSync(d).sort()) {
      const cdir = path.join(d, cls);
      if (!fs.statSync(cdir).isDirectory()) continue;
      const label = (EMOTION_LABELS as readonly string[]).indexOf(cls.toLowerCase());
      if (label < 0) {
        skipped.push({ id: cdir, reason: `unknown class folder "${cls}"` });
        continue;
      }
      for (const name of fs.readdirSync(cdir).sort()) {
        const file = path.join(cdir, name);
        if (!isImageFile(name)) continue;
        const prefix = name.split('_')[0];
        const split = USAGE_TO_SPLIT[prefix];
        if (!split) {
          skipped.push({ id: file, reason: 'file name lacks a Training_ / PublicTest_ / PrivateTest_ prefix' });
          continue;
        }
        splits[split].push({ id: file, label, file });
      }
    }
  }
  return officialSplitDataset('fer2013-folders', dir, splits, skipped, 'file-name prefix');
}
