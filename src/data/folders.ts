/**
 * Generic `<root>/<class>/*` image folders, or `<root>/{train,val,test}/<class>/*` with explicit
 * splits. Without explicit splits, a seeded hash split stratified by class. Explicit split folders
 * without a validation folder (e.g. RAF-DB's official `train/`, whose test split is held out) get a
 * seeded, class-stratified validation split carved out of `train/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.js';
import { DEFAULT_SPLIT, hashSplit, isImageFile, splitCounts, type Dataset, type HashSplitOptions, type Sample, type SplitName } from './dataset.js';

const SPLIT_DIRS: Record<string, SplitName> = { train: 'train', training: 'train', val: 'val', valid: 'val', validation: 'val', test: 'test' };

function isDir(p: string): boolean {
  return fs.existsSync(p) && fs.statSync(p).isDirectory();
}

function classDirs(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => !n.startsWith('.') && isDir(path.join(dir, n)))
    .sort();
}

/**
 * @param labels fixed label order (e.g. EMOTION_LABELS for the emotion task); class folders are
 *   matched case-insensitively, with `aliases` (e.g. female -> woman). Default: sorted folder names.
 */
export function loadFolders(root: string, opts: { labels?: string[]; aliases?: Record<string, string>; split?: HashSplitOptions } = {}): Dataset {
  if (!isDir(root)) throw new UserError(`dataset folder "${root}" does not exist or is not a folder`);
  const top = classDirs(root);
  const explicit = top.filter((n) => SPLIT_DIRS[n.toLowerCase()]);
  const splitRoots: Array<[SplitName | undefined, string]> = explicit.length
    ? explicit.map((n) => [SPLIT_DIRS[n.toLowerCase()], path.join(root, n)])
    : [[undefined, root]];
  const found = new Set<string>();
  for (const [, d] of splitRoots) for (const c of classDirs(d)) found.add(c);
  const canon = (c: string) => {
    const l = c.toLowerCase();
    return opts.aliases?.[l] ?? l;
  };
  const labels = opts.labels ?? [...new Set([...found].map(canon))].sort();
  if (labels.length < 2) throw new UserError(`"${root}" must contain at least two class folders (<root>/<class>/*.jpg), found ${found.size}`);
  const unknown = [...found].filter((c) => !labels.includes(canon(c)));
  if (unknown.length)
    throw new UserError(`"${root}" has class folders ${unknown.map((u) => `"${u}"`).join(', ')} that are not labels of this task (${labels.join(', ')})`);
  const splits: Record<SplitName, Sample[]> = { train: [], val: [], test: [] };
  const all: Sample[] = [];
  for (const [split, d] of splitRoots) {
    for (const c of classDirs(d)) {
      const label = labels.indexOf(canon(c));
      for (const name of fs.readdirSync(path.join(d, c)).sort()) {
        if (!isImageFile(name)) continue;
        const file = path.join(d, c, name);
        const s: Sample = { id: file, file, label };
        (split ? splits[split] : all).push(s);
      }
    }
  }
  const sp = opts.split ?? DEFAULT_SPLIT;
  let method: string;
  const carveVal = explicit.length > 0 && splits.val.length === 0 && splits.train.length > 0;
  if (carveVal) {
    const carved = hashSplit(
      splits.train,
      (s) => path.relative(root, s.file!),
      (s) => s.label,
      { seed: sp.seed, val: sp.val, test: 0 },
    );
    splits.train = carved.train;
    splits.val = carved.val;
    method = `explicit split folders: ${explicit.join(', ')}; validation carved from train by a seeded hash split stratified by class (seed ${sp.seed}, val ${sp.val})`;
  } else if (explicit.length) {
    method = `explicit split folders: ${explicit.join(', ')}`;
  } else {
    Object.assign(
      splits,
      hashSplit(
        all,
        (s) => path.relative(root, s.file!),
        (s) => s.label,
        sp,
      ),
    );
    method = `seeded hash split stratified by class (seed ${sp.seed}, val ${sp.val}, test ${sp.test})`;
  }
  if (splits.train.length + splits.val.length + splits.test.length === 0) throw new UserError(`"${root}" holds no images in its class folders`);
  const rel = (ss: Sample[]) => ss.map((s) => path.relative(root, s.file!));
  return {
    format: 'folders',
    root,
    labels,
    splits,
    skipped: [],
    split: {
      method,
      ...(carveVal
        ? { seed: sp.seed, fractions: { val: sp.val, test: 0 } }
        : explicit.length
          ? {}
          : { seed: sp.seed, fractions: { val: sp.val, test: sp.test } }),
      counts: splitCounts(splits),
      ids: { train: rel(splits.train), val: rel(splits.val), test: rel(splits.test) },
    },
  };
}
