/** One entry point for every dataset layout: detects the format from the path, checks it fits the task. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.js';
import { EMOTION_LABELS, GENDER_LABELS, type Task } from '../io/model-store.js';
import { DEFAULT_SPLIT, SPLIT_ALIASES, type Dataset, type DatasetFormat, type HashSplitOptions, type SplitName } from './dataset.js';
import { isFer2013Folders, loadFer2013Csv, loadFer2013Folders } from './fer2013.js';
import { loadFolders } from './folders.js';
import { findImdbWikiMat, loadImdbWiki } from './imdb-wiki.js';
import { findRafdbList, loadRafdb } from './rafdb.js';
import { isUtkFace, loadUtkFace } from './utkface.js';
import type { AgeCodec } from './age.js';

export const DATASET_FORMATS: readonly DatasetFormat[] = ['fer2013-csv', 'fer2013-folders', 'utkface', 'imdb-wiki', 'rafdb', 'folders'];

const GENDER_ALIASES: Record<string, string> = { female: 'woman', women: 'woman', f: 'woman', male: 'man', men: 'man', m: 'man' };

export function detectFormat(p: string): DatasetFormat {
  if (!fs.existsSync(p)) throw new UserError(`dataset "${p}" does not exist`);
  const st = fs.statSync(p);
  if (st.isFile()) {
    const lower = p.toLowerCase();
    if (lower.endsWith('.csv')) return 'fer2013-csv';
    if (lower.endsWith('.mat')) return 'imdb-wiki';
    throw new UserError(`dataset "${p}" is a file but neither a FER-2013 .csv nor an IMDB-WIKI .mat`);
  }
  if (fs.existsSync(path.join(p, 'fer2013.csv'))) return 'fer2013-csv';
  if (isFer2013Folders(p)) return 'fer2013-folders';
  if (findImdbWikiMat(p)) return 'imdb-wiki';
  if (isUtkFace(p)) return 'utkface';
  if (findRafdbList(p)) return 'rafdb';
  return 'folders';
}

export interface LoadOptions {
  task: Task;
  format?: DatasetFormat;
  split?: HashSplitOptions;
  /** Task 'age': the anchors the samples are labelled by (default DEFAULT_AGE_CODEC). */
  ageCodec?: AgeCodec;
}

export async function loadDataset(p: string, opts: LoadOptions): Promise<Dataset> {
  const format = opts.format ?? detectFormat(p);
  const split = opts.split ?? DEFAULT_SPLIT;
  if (opts.task === 'age' && format !== 'utkface')
    throw new UserError(`dataset "${p}" (${format}) has no ages: the age task reads UTKFace ([age]_[gender]_[race]_[date].jpg.chip.jpg)`);
  let ds: Dataset;
  switch (format) {
    case 'fer2013-csv': {
      const file = fs.existsSync(p) && fs.statSync(p).isDirectory() ? path.join(p, 'fer2013.csv') : p;
      ds = await loadFer2013Csv(file);
      break;
    }
    case 'fer2013-folders':
      ds = loadFer2013Folders(p);
      break;
    case 'utkface':
      ds = loadUtkFace(p, split, opts.task, opts.ageCodec);
      break;
    case 'imdb-wiki':
      ds = loadImdbWiki(p, split);
      break;
    case 'rafdb':
      ds = loadRafdb(p, split);
      break;
    case 'folders':
      ds = loadFolders(p, {
        labels: opts.task === 'emotion' ? [...EMOTION_LABELS] : opts.task === 'gender' ? [...GENDER_LABELS] : undefined,
        aliases: opts.task === 'gender' ? GENDER_ALIASES : undefined,
        split,
      });
      break;
    default:
      throw new UserError(`unknown dataset format "${String(format)}": choose one of ${DATASET_FORMATS.join(', ')}`);
  }
  const expected = opts.task === 'emotion' ? EMOTION_LABELS : opts.task === 'gender' ? GENDER_LABELS : undefined;
  if (expected && ds.labels.join() !== expected.join()) {
    throw new UserError(`dataset "${p}" (${format}) has labels ${ds.labels.join(', ')}, which do not fit the ${opts.task} task (${expected.join(', ')})`);
  }
  return ds;
}

export function parseSplitName(s: string): SplitName {
  const n = SPLIT_ALIASES[s.trim().toLowerCase()];
  if (!n) throw new UserError(`unknown split "${s}": use train, val (PublicTest) or test (PrivateTest)`);
  return n;
}
