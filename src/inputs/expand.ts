/**
 * Input expansion: the arguments of a batch command (files, directories, globs, http(s) URLs) turned
 * into the files to read, in a deterministic order. Globs are tinyglobby's (picomatch syntax: `*`, `?`,
 * `[...]`, `**`, `{a,b}`); directories are searched recursively for files with the given extensions.
 * Hidden files and folders (names starting with ".") are skipped in both; symbolic links to files and
 * folders are followed (a link loop is visited once). An input that yields nothing comes back as an
 * item with an error, so a batch reports it against that input and goes on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { globSync } from 'tinyglobby';
import { errorMessage } from '../errors.js';
import { isUrl, type InputItem } from '../pipeline/file-result.js';

export type { InputItem } from '../pipeline/file-result.js';

/** Extensions (lower case, with the dot) of the images a directory search picks up. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp', '.heic']);

export interface ExpandOptions {
  /** Expand glob patterns (default true; false takes every input literally, as list entries are). */
  glob?: boolean;
  /** Extensions a directory search keeps (default IMAGE_EXTENSIONS); globs keep whatever they match. */
  extensions?: ReadonlySet<string>;
}

/** Why an input yielded no file: the `error` of its item names it. */
export type ExpandErrorReason = 'missing' | 'no-match' | 'empty-directory' | 'unreadable-directory';

export const EXPAND_ERROR_MESSAGES: Readonly<Record<ExpandErrorReason, string>> = {
  missing: 'no such file',
  'no-match': 'no files match',
  'empty-directory': 'directory contains no images',
  'unreadable-directory': 'cannot list directory',
};

/** True when the input has glob syntax (`*`, `?`, `[`, `{`). */
export function hasGlob(input: string): boolean {
  return /[*?[{]/.test(input);
}

const collator = new Intl.Collator('en');

/** Order of paths: folder by folder, names in English collation (then by code point, so ties are stable). */
export function comparePaths(a: string, b: string): number {
  const as = a.split(path.sep);
  const bs = b.split(path.sep);
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    if (as[i] === bs[i]) continue;
    // A file in a folder sorts where the folder's name sorts among its siblings.
    return collator.compare(as[i], bs[i]) || (as[i] < bs[i] ? -1 : 1);
  }
  return as.length - bs.length;
}

/** Files under `base` matching `pattern` (relative to `base`), joined to `base` and sorted. */
function globUnder(base: string, pattern: string): string[] {
  const found = globSync(pattern, { cwd: base, onlyFiles: true, dot: false, followSymbolicLinks: true, expandDirectories: false });
  return found.map((f) => (base === '.' ? path.normalize(f) : path.join(base, f))).sort(comparePaths);
}

function item(file: string, reason: ExpandErrorReason, detail?: string, extensions?: ReadonlySet<string>): InputItem {
  let error = EXPAND_ERROR_MESSAGES[reason];
  if (reason === 'empty-directory' && extensions !== undefined && extensions !== IMAGE_EXTENSIONS) error = 'directory contains no images or videos';
  return { file, error: detail === undefined ? error : `${error}: ${detail}` };
}

function expandDirectory(dir: string, extensions: ReadonlySet<string>): InputItem[] {
  let files: string[];
  try {
    fs.readdirSync(dir);
    files = globUnder(dir, '**/*').filter((f) => extensions.has(path.extname(f).toLowerCase()));
  } catch (err) {
    return [item(dir, 'unreadable-directory', errorMessage(err))];
  }
  if (files.length === 0) return [item(dir, 'empty-directory', undefined, extensions)];
  return files.map((file) => ({ file }));
}

function expandGlob(pattern: string): InputItem[] {
  const firstGlob = pattern.search(/[*?[{]/);
  const baseEnd = pattern.lastIndexOf('/', firstGlob);
  const base = baseEnd < 0 ? '.' : pattern.slice(0, baseEnd) || '/';
  const rest = baseEnd < 0 ? pattern : pattern.slice(baseEnd + 1);
  let files: string[] = [];
  try {
    if (fs.statSync(base).isDirectory()) files = globUnder(base, rest);
  } catch {
    files = [];
  }
  if (files.length === 0) return [item(pattern, 'no-match')];
  return files.map((file) => ({ file }));
}

/**
 * Expand one input: an http(s) URL (passed through), a file (itself), a directory (its files with the
 * given extensions, recursively) or, unless `glob: false`, a glob. An input that yields nothing is one
 * item whose `error` says why (no such file, no files match, no images in the directory).
 */
export function expandInput(input: string, opts: ExpandOptions = {}): InputItem[] {
  if (isUrl(input)) return [{ file: input }];
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(input);
  } catch {
    stat = undefined;
  }
  if (stat?.isDirectory()) return expandDirectory(input, opts.extensions ?? IMAGE_EXTENSIONS);
  if (stat) return [{ file: input }];
  if (opts.glob !== false && hasGlob(input)) return expandGlob(input);
  return [item(input, 'missing')];
}

/** Expand every input (see expandInput), in the order given. */
export function expandInputs(inputs: readonly string[], opts: ExpandOptions = {}): InputItem[] {
  return inputs.flatMap((a) => expandInput(a, opts));
}
