/**
 * IMDB-WIKI as distributed: `imdb.mat` (or `wiki.mat`) metadata next to `imdb_crop/` (`wiki_crop/`).
 * The paper's filters: face_score > 3 (a face was found and confidently), no second face
 * (second_face_score is NaN), known gender. Gender 1 = male, 0 = female in the metadata.
 * No official split: a seeded hash split stratified by gender over the kept images.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { GENDER_LABELS } from '../io/model-store.js';
import { DEFAULT_SPLIT, hashSplit, splitCounts, type Dataset, type HashSplitOptions, type Sample, type Skipped } from './dataset.js';
import { cellString, numericData, readMat, type MatStruct } from './mat5.js';

export const MIN_FACE_SCORE = 3;

/** Locate the .mat file: the path itself, or imdb.mat / wiki.mat inside a folder. */
export function findImdbWikiMat(p: string): string | undefined {
  if (fs.existsSync(p) && fs.statSync(p).isFile() && p.toLowerCase().endsWith('.mat')) return p;
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
    for (const base of ['imdb', 'wiki']) {
      for (const cand of [path.join(p, `${base}.mat`), path.join(p, `${base}_crop`, `${base}.mat`)]) if (fs.existsSync(cand)) return cand;
    }
  }
  return undefined;
}

/** MATLAB datenum (days since year 0) to a calendar year. */
function datenumYear(d: number): number {
  return new Date((d - 719529) * 86400000).getUTCFullYear();
}

export function loadImdbWiki(p: string, split: HashSplitOptions = DEFAULT_SPLIT): Dataset {
  const matFile = findImdbWikiMat(p);
  if (!matFile) throw new UserError(`"${p}" is not an IMDB-WIKI dataset: expected imdb.mat or wiki.mat (with imdb_crop/ or wiki_crop/)`);
  let vars;
  try {
    vars = readMat(fs.readFileSync(matFile));
  } catch (err) {
    throw new UserError(`cannot read "${matFile}": ${errorMessage(err)}`, { cause: err });
  }
  const key = Object.keys(vars).find((k) => k === 'imdb' || k === 'wiki') ?? Object.keys(vars).find((k) => vars[k].type === 'struct');
  const st = key ? vars[key] : undefined;
  if (!st || st.type !== 'struct' || st.elements.length !== 1) throw new UserError(`"${matFile}" has no imdb/wiki metadata struct`);
  const rec = (st as MatStruct).elements[0];
  const need = ['full_path', 'gender', 'face_score', 'second_face_score'];
  const missing = need.filter((f) => !rec[f]);
  if (missing.length) throw new UserError(`"${matFile}" lacks the field(s) ${missing.join(', ')} of the IMDB-WIKI metadata`);
  const paths = rec.full_path;
  const gender = numericData(rec.gender)!;
  const faceScore = numericData(rec.face_score)!;
  const second = numericData(rec.second_face_score)!;
  const dob = numericData(rec.dob);
  const taken = numericData(rec.photo_taken);
  const n = paths.type === 'cell' ? paths.cells.length : 0;
  if (gender.length !== n || faceScore.length !== n || second.length !== n) {
    throw new UserError(`"${matFile}": fields full_path, gender, face_score and second_face_score have different lengths`);
  }
  const base = key === 'wiki' ? 'wiki' : 'imdb';
  const dir = path.dirname(matFile);
  const imgRoot =
    [path.join(dir, `${base}_crop`), dir].find((d) => fs.existsSync(d) && fs.statSync(d).isDirectory() && path.basename(d) === `${base}_crop`) ?? dir;
  const filtered = { lowFaceScore: 0, secondFace: 0, unknownGender: 0 };
  const skipped: Skipped[] = [];
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const rel = cellString(paths, i);
    if (!rel) {
      skipped.push({ id: `${matFile}:full_path[${i}]`, reason: 'full_path entry is not a string' });
      continue;
    }
    if (!(faceScore[i] > MIN_FACE_SCORE)) {
      filtered.lowFaceScore++;
      continue;
    }
    if (!Number.isNaN(second[i])) {
      filtered.secondFace++;
      continue;
    }
    if (gender[i] !== 0 && gender[i] !== 1) {
      filtered.unknownGender++;
      continue;
    }
    const file = path.join(imgRoot, rel);
    const g = gender[i] === 1 ? 'man' : 'woman';
    let age: number | undefined;
    if (dob && taken && Number.isFinite(dob[i]) && Number.isFinite(taken[i])) {
      const a = taken[i] - datenumYear(dob[i]);
      if (a >= 0 && a <= 120) age = a;
    }
    samples.push({ id: file, file, label: (GENDER_LABELS as readonly string[]).indexOf(g), meta: { gender: g, ...(age !== undefined ? { age } : {}) } });
  }
  const splits = hashSplit(
    samples,
    (s) => path.relative(imgRoot, s.file!),
    (s) => s.label,
    split,
  );
  const rel = (ss: Sample[]) => ss.map((s) => path.relative(imgRoot, s.file!));
  return {
    format: 'imdb-wiki',
    root: imgRoot,
    labels: [...GENDER_LABELS],
    splits,
    skipped,
    filtered,
    split: {
      method: `paper filters (face_score > ${MIN_FACE_SCORE}, no second face, known gender), then a seeded hash split stratified by gender`,
      seed: split.seed,
      fractions: { val: split.val, test: split.test },
      counts: splitCounts(splits),
      ids: { train: rel(splits.train), val: rel(splits.val), test: rel(splits.test) },
    },
  };
}
