/**
 * UTKFace: labels in file names `[age]_[gender]_[race]_[date&time].jpg.chip.jpg`
 * (gender 0 = male, 1 = female; race 0..4 = white, black, asian, indian, others).
 * Survives the known quirks: a missing race field (then race is unknown), a space before `.jpg`,
 * a missing dot before `jpg.chip.jpg`. Nothing may follow `.jpg` / `.jpg.chip.jpg` (a copy such as
 * `..jpg.chip.jpg.bak` or `...jpg (1).jpg` is not a dataset image). No official split: a seeded hash
 * split stratified by gender; an age model (task 'age') uses the very same split (same seed, same
 * strata), relabelled by age after splitting.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.js';
import { GENDER_LABELS, type Task } from '../io/model-store.js';
import { ageLabels, ageSamples, DEFAULT_AGE_CODEC, type AgeCodec } from './age.js';
import {
  DEFAULT_SPLIT,
  hashSplit,
  isImageFile,
  RACES,
  splitCounts,
  type Dataset,
  type HashSplitOptions,
  type Sample,
  type SampleMeta,
  type Skipped,
} from './dataset.js';

export interface UtkLabels {
  age: number;
  /** 'man' | 'woman' */
  gender: SampleMeta['gender'];
  race?: string;
}

/** Parse one UTKFace file name; undefined when it carries no usable age and gender. */
export function parseUtkName(name: string): UtkLabels | undefined {
  const m = /^(\d{1,3})_([01])_(?:([0-4])_)?(\d{8,}) ?\.?jpg(?:\.chip\.jpg)?$/i.exec(name);
  if (!m) return undefined;
  const age = Number(m[1]);
  if (age < 0 || age > 130) return undefined;
  // Without the race field the third part is the date (8+ digits): `39_1_20170116174525125.jpg.chip.jpg`.
  return { age, gender: m[2] === '0' ? 'man' : 'woman', race: m[3] !== undefined ? RACES[Number(m[3])] : undefined };
}

/** True when most image files in `dir` carry UTKFace-style names. */
export function isUtkFace(dir: string): boolean {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return false;
  const names = fs.readdirSync(dir).filter(isImageFile).slice(0, 200);
  return names.length > 0 && names.filter((n) => parseUtkName(n)).length >= names.length * 0.8;
}

/**
 * The UTKFace folder `dir`, split by `split` (stratified by gender). For task 'age' the same split is
 * relabelled by age (label = nearest anchor of `ageCodec`; the targets come from meta.age).
 */
export function loadUtkFace(dir: string, split: HashSplitOptions = DEFAULT_SPLIT, task?: Task, ageCodec: AgeCodec = DEFAULT_AGE_CODEC): Dataset {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`UTKFace folder "${dir}" does not exist`);
  const samples: Sample[] = [];
  const skipped: Skipped[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!isImageFile(name)) continue;
    const file = path.join(dir, name);
    const labels = parseUtkName(name);
    if (!labels) {
      skipped.push({ id: file, reason: 'file name is not [age]_[gender]_[race]_[date].jpg' });
      continue;
    }
    samples.push({ id: file, file, label: (GENDER_LABELS as readonly string[]).indexOf(labels.gender!), meta: labels });
  }
  if (samples.length === 0) throw new UserError(`"${dir}" holds no UTKFace images ([age]_[gender]_[race]_[date].jpg.chip.jpg)`);
  const byGender = hashSplit(
    samples,
    (s) => path.basename(s.file!),
    (s) => s.label,
    split,
  );
  const age = task === 'age';
  const splits = age
    ? { train: ageSamples(byGender.train, ageCodec), val: ageSamples(byGender.val, ageCodec), test: ageSamples(byGender.test, ageCodec) }
    : byGender;
  return {
    format: 'utkface',
    root: dir,
    labels: age ? ageLabels(ageCodec) : [...GENDER_LABELS],
    splits,
    skipped,
    split: {
      method: `seeded hash split stratified by gender: per gender, files ordered by hash(name, seed); first ${split.test} -> test, next ${split.val} -> val, rest -> train`,
      seed: split.seed,
      fractions: { val: split.val, test: split.test },
      counts: splitCounts(splits),
      ids: {
        train: splits.train.map((s) => path.basename(s.file!)),
        val: splits.val.map((s) => path.basename(s.file!)),
        test: splits.test.map((s) => path.basename(s.file!)),
      },
    },
  };
}
