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

/** The metadata arrays of imdb.mat / wiki.mat, one entry per photo. */
interface ImdbWikiFields {
  /** 'imdb' or 'wiki': which set (and which <set>_crop folder) the file describes. */
  base: string;
  paths: MatStruct['elements'][number][string];
  gender: ArrayLike<number>;
  faceScore: ArrayLike<number>;
  second: ArrayLike<number>;
  dob?: ArrayLike<number>;
  taken?: ArrayLike<number>;
  n: number;
}

function readImdbWikiFields(matFile: string): ImdbWikiFields {
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
  const f = {
    base: key === 'wiki' ? 'wiki' : 'imdb',
    paths,
    gender: numericData(rec.gender)!,
    faceScore: numericData(rec.face_score)!,
    second: numericData(rec.second_face_score)!,
    dob: numericData(rec.dob),
    taken: numericData(rec.photo_taken),
    n: paths.type === 'cell' ? paths.cells.length : 0,
  };
  if (f.gender.length !== f.n || f.faceScore.length !== f.n || f.second.length !== f.n) {
    throw new UserError(`"${matFile}": fields full_path, gender, face_score and second_face_score have different lengths`);
  }
  return f;
}

/** The age in the photo: the year it was taken less the year of birth, when both are known and plausible. */
function photoAge(f: ImdbWikiFields, i: number): number | undefined {
  if (!f.dob || !f.taken || !Number.isFinite(f.dob[i]) || !Number.isFinite(f.taken[i])) return undefined;
  const a = f.taken[i] - datenumYear(f.dob[i]);
  return a >= 0 && a <= 120 ? a : undefined;
}

/** The photos the paper's filters keep, with what they dropped and why. */
function filterImdbWiki(f: ImdbWikiFields, matFile: string, imgRoot: string): Pick<Dataset, 'skipped' | 'filtered'> & { samples: Sample[] } {
  const filtered = { lowFaceScore: 0, secondFace: 0, unknownGender: 0 };
  const skipped: Skipped[] = [];
  const samples: Sample[] = [];
  for (let i = 0; i < f.n; i++) {
    const rel = cellString(f.paths, i);
    if (!rel) skipped.push({ id: `${matFile}:full_path[${i}]`, reason: 'full_path entry is not a string' });
    else if (!(f.faceScore[i] > MIN_FACE_SCORE)) filtered.lowFaceScore++;
    else if (!Number.isNaN(f.second[i])) filtered.secondFace++;
    else if (f.gender[i] !== 0 && f.gender[i] !== 1) filtered.unknownGender++;
    else {
      const file = path.join(imgRoot, rel);
      const g = f.gender[i] === 1 ? 'man' : 'woman';
      const age = photoAge(f, i);
      samples.push({ id: file, file, label: (GENDER_LABELS as readonly string[]).indexOf(g), meta: { gender: g, ...(age !== undefined ? { age } : {}) } });
    }
  }
  return { samples, skipped, filtered };
}

export function loadImdbWiki(p: string, split: HashSplitOptions = DEFAULT_SPLIT): Dataset {
  const matFile = findImdbWikiMat(p);
  if (!matFile) throw new UserError(`"${p}" is not an IMDB-WIKI dataset: expected imdb.mat or wiki.mat (with imdb_crop/ or wiki_crop/)`);
  const f = readImdbWikiFields(matFile);
  const dir = path.dirname(matFile);
  const imgRoot =
    [path.join(dir, `${f.base}_crop`), dir].find((d) => fs.existsSync(d) && fs.statSync(d).isDirectory() && path.basename(d) === `${f.base}_crop`) ?? dir;
  const { samples, skipped, filtered } = filterImdbWiki(f, matFile, imgRoot);
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
