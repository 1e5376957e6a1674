/**
 * RAF-DB basic expression set in its original distribution: `list_patition_label.txt` (`<name> <label>`
 * per line, labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral; names
 * `train_NNNNN.jpg` / `test_NNNN.jpg`) beside the aligned 100x100 faces (`aligned/train_NNNNN_aligned.jpg`).
 * Found at the root or in the release's `EmoLabel/` and `Image/aligned/` sub-folders. The official
 * train split gets a seeded validation split carved out of it (stratified by class); the official
 * test split is `test`. (The `<root>/{train,test}/<class>/*.jpg` layout goes through the folders loader.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.js';
import { EMOTION_LABELS } from '../io/model-store.js';
import { DEFAULT_SPLIT, hashSplit, splitCounts, type Dataset, type HashSplitOptions, type Sample, type Skipped } from './dataset.js';

export const RAFDB_LIST = 'list_patition_label.txt';

/** RAF-DB's label codes 1..7 as EMOTION_LABELS names. */
const RAFDB_CODES = ['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral'] as const;

function firstExisting(candidates: string[]): string | undefined {
  return candidates.find((p) => fs.existsSync(p));
}

/** The label list of a RAF-DB release under `root`, or undefined. */
export function findRafdbList(root: string): string | undefined {
  return firstExisting([path.join(root, RAFDB_LIST), path.join(root, 'EmoLabel', RAFDB_LIST), path.join(root, 'basic', 'EmoLabel', RAFDB_LIST)]);
}

function alignedDir(root: string, list: string): string {
  const base = path.dirname(list);
  const dir = firstExisting([
    path.join(root, 'aligned'),
    path.join(root, 'Image', 'aligned'),
    path.join(base, '..', 'Image', 'aligned'),
    path.join(base, 'aligned'),
  ]);
  if (!dir) throw new UserError(`RAF-DB "${root}": ${list} found, but no aligned/ (or Image/aligned/) folder of face images`);
  return dir;
}

/** `train_00001.jpg` -> `train_00001_aligned.jpg`. */
function alignedName(name: string): string {
  const ext = path.extname(name);
  return `${name.slice(0, name.length - ext.length)}_aligned${ext || '.jpg'}`;
}

export function loadRafdb(root: string, split: HashSplitOptions = DEFAULT_SPLIT): Dataset {
  const list = findRafdbList(root);
  if (!list) throw new UserError(`"${root}" is not a RAF-DB release: no ${RAFDB_LIST} (at the root or in EmoLabel/)`);
  const images = alignedDir(root, list);
  const labels = [...EMOTION_LABELS] as string[];
  const train: Sample[] = [];
  const test: Sample[] = [];
  const skipped: Skipped[] = [];
  const lines = fs.readFileSync(list, 'utf8').split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const id = `${path.basename(list)}:${i + 1}`;
    const m = /^\s*(\S+)\s+(\d+)\s*$/.exec(line);
    const code = m ? Number(m[2]) : NaN;
    if (!m || !(code >= 1 && code <= 7)) {
      skipped.push({ id, reason: `expected "<name> <label 1..7>", got "${line.slice(0, 80)}"` });
      return;
    }
    const name = m[1];
    const part = name.startsWith('train_') ? train : name.startsWith('test_') ? test : undefined;
    if (!part) {
      skipped.push({ id, reason: `"${name}" is neither a train_ nor a test_ image` });
      return;
    }
    const file = path.join(images, alignedName(name));
    part.push({ id: file, file, label: labels.indexOf(RAFDB_CODES[code - 1]) });
  });
  const carved = hashSplit(
    train,
    (s) => path.basename(s.file!),
    (s) => s.label,
    { seed: split.seed, val: split.val, test: 0 },
  );
  const splits = { train: carved.train, val: carved.val, test };
  if (splits.train.length + splits.val.length + splits.test.length === 0) throw new UserError(`RAF-DB "${root}": ${list} lists no images`);
  const rel = (ss: Sample[]) => ss.map((s) => path.basename(s.file!));
  return {
    format: 'rafdb',
    root,
    labels,
    splits,
    skipped,
    split: {
      method: `official train/test partition; validation carved from train by a seeded hash split stratified by class (seed ${split.seed}, val ${split.val})`,
      seed: split.seed,
      fractions: { val: split.val, test: 0 },
      counts: splitCounts(splits),
      ids: { train: rel(splits.train), val: rel(splits.val), test: rel(splits.test) },
    },
  };
}
