/**
 * `facecls classify <files|dirs|globs...>`: every face of every image with box, detector score,
 * emotion and gender. Output: table (default), JSON Lines (--json, one object per input file) or CSV
 * (--csv, one row per face). A file that fails gets an error entry and the batch continues; the exit
 * code is 1 when any input failed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { DETECTORS, isDetectorName, type TileMode } from '../../detect/types.js';
import { UserError } from '../../errors.js';
import { DEFAULT_CROP_FRAMING, FaceClassifier, type FaceClassifierOptions } from '../../pipeline/face-classifier.js';
import { CROP_FRAMINGS, type CropFraming } from '../../pipeline/crop-framing.js';
import { classifyFile, isUrl, type FileResult } from '../../pipeline/file-result.js';
import { parseRuntimeOption, RUNTIME_OPTION_HELP } from '../../runtime/options.js';
import { parseTtaOption } from '../../runtime/tta.js';
import { csvHeader, csvRows } from '../csv.js';
import { fmt, formatTable } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';

export interface PipelineCliOptions {
  detector: string;
  emotionModel?: string;
  genderModel?: string;
  accurate?: boolean;
  tta?: string;
  emotion: boolean;
  gender: boolean;
  runtime?: string;
  margin?: string;
  minFaceSize?: string;
  scoreThreshold?: string;
  maxFaces?: string;
  maxPixels?: string;
  tiles: string;
  align: boolean;
  cropFraming: string;
}

/** Options shared by classify, annotate, video and webcam. */
export function addPipelineOptions(cmd: Command): Command {
  return cmd
    .option('--detector <name>', `face detector: ${DETECTORS.join(' | ')}`, 'blazeface')
    .option('--emotion-model <dir>', 'emotion model directory (default: models/emotion of the project)')
    .option('--gender-model <dir>', 'gender model directory (default: models/gender of the project)')
    .option('--accurate', 'use the accurate models (models/<task>-accurate: an ensemble or a larger input, slower; the fast ones where none is shipped) unless --emotion-model / --gender-model name one', false)
    .option('--no-emotion', 'skip emotion classification')
    .option('--no-gender', 'skip gender classification')
    .option('--runtime <name>', RUNTIME_OPTION_HELP)
    .option('--tta <mode>', "classifier test-time augmentation: flip (average with the mirror image) or none (one pass per face, half the classifier time); default the model's (flip for the shipped models)")
    .option('--margin <fraction>', 'crop margin around the detector box, per side, as a fraction of the box (default: the model card margin converted to the detector framing; docs/pipeline.md)')
    .option('--min-face-size <px>', 'ignore faces smaller than this many pixels')
    .option('--score-threshold <p>', 'minimum detector score (CNN detectors)')
    .option('--max-faces <n>', 'at most this many faces per image')
    .option('--tiles <mode>', 'BlazeFace second look at small faces through frame tiles: auto (when a possible face scored low), always, off', 'auto')
    .option('--max-pixels <n>', 'refuse images with more pixels than this (decompression bombs)')
    .option('--no-align', 'do not level the eyes of each face before classifying (BlazeFace keypoints; the Haar cascade has none)')
    .option('--crop-framing <mode>', `with --crops: ${CROP_FRAMINGS.join(' | ')} (detect: find the face inside each crop and frame it like a detected face)`, DEFAULT_CROP_FRAMING);
}

export function parseCropFraming(v: string): CropFraming {
  if (!(CROP_FRAMINGS as readonly string[]).includes(v)) throw new UserError(`--crop-framing must be one of ${CROP_FRAMINGS.join(', ')}, got "${v}"`);
  return v as CropFraming;
}

export function parseTiles(v: string): TileMode {
  if (v === 'auto') return 'auto';
  if (v === 'always') return true;
  if (v === 'off') return false;
  throw new UserError(`--tiles must be auto, always or off, got "${v}"`);
}

export function classifierOptions(o: PipelineCliOptions, backend?: string): FaceClassifierOptions {
  if (!isDetectorName(o.detector)) throw new UserError(`unknown detector "${o.detector}": choose one of ${DETECTORS.join(', ')}`);
  parseRuntimeOption(o.runtime);
  if (!o.emotion && !o.gender) throw new UserError('nothing to do: both --no-emotion and --no-gender given');
  return {
    detector: o.detector,
    emotionModel: o.emotionModel,
    genderModel: o.genderModel,
    variant: o.accurate ? 'accurate' : 'fast',
    tta: parseTtaOption(o.tta),
    emotion: o.emotion,
    gender: o.gender,
    runtime: o.runtime,
    backend,
    cropMargin: o.margin === undefined ? undefined : parseFloatOption(o.margin, '--margin', -0.4, 2),
    minFaceSize: o.minFaceSize === undefined ? undefined : parseFloatOption(o.minFaceSize, '--min-face-size', 0),
    scoreThreshold: o.scoreThreshold === undefined ? undefined : parseFloatOption(o.scoreThreshold, '--score-threshold', 0, 1),
    tiles: parseTiles(o.tiles),
    maxFaces: o.maxFaces === undefined ? undefined : parseIntOption(o.maxFaces, '--max-faces', 1),
    maxPixels: o.maxPixels === undefined ? undefined : parseIntOption(o.maxPixels, '--max-pixels', 1),
    align: o.align !== false,
    cropFraming: parseCropFraming(o.cropFraming ?? DEFAULT_CROP_FRAMING),
  };
}

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp', '.heic']);

function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += '[' + pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

function walk(dir: string, out: string[], extensions: ReadonlySet<string>): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out, extensions);
    else if (extensions.has(path.extname(e.name).toLowerCase())) out.push(p);
  }
}

/**
 * Expand files, directories (recursively, files with the given extensions: images by default) and globs (*, ?, [..], **) into
 * input paths; http(s) URLs pass through. Arguments that match nothing come back as errors so the
 * batch can report them.
 */
export function expandInputs(args: string[], extensions: ReadonlySet<string> = IMAGE_EXTENSIONS): Array<{ file: string; error?: string }> {
  const out: Array<{ file: string; error?: string }> = [];
  for (const arg of args) {
    if (isUrl(arg)) {
      out.push({ file: arg });
      continue;
    }
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(arg);
    } catch {
      stat = undefined;
    }
    if (stat?.isDirectory()) {
      const files: string[] = [];
      walk(arg, files, extensions);
      if (files.length === 0) out.push({ file: arg, error: extensions === IMAGE_EXTENSIONS ? 'directory contains no images' : 'directory contains no images or videos' });
      for (const f of files) out.push({ file: f });
    } else if (stat) out.push({ file: arg });
    else if (hasGlob(arg)) {
      const firstGlob = arg.search(/[*?[]/);
      const baseEnd = arg.lastIndexOf('/', firstGlob);
      const base = baseEnd < 0 ? '.' : arg.slice(0, baseEnd) || '/';
      const re = globToRegExp(baseEnd < 0 ? arg : arg);
      const files: string[] = [];
      if (fs.existsSync(base) && fs.statSync(base).isDirectory()) {
        const all: string[] = [];
        const collect = (d: string) => {
          for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            const p = d === '.' ? e.name : path.join(d, e.name);
            if (e.isDirectory()) collect(p);
            else all.push(p);
          }
        };
        collect(base);
        for (const p of all) if (re.test(p)) files.push(p);
      }
      if (files.length === 0) out.push({ file: arg, error: 'no files match' });
      for (const f of files) out.push({ file: f });
    } else out.push({ file: arg, error: 'no such file' });
  }
  return out;
}

export type { FileResult } from '../../pipeline/file-result.js';
export { csvHeader, csvRows } from '../csv.js';

function tableRows(results: FileResult[]) {
  const rows: Array<Record<string, string>> = [];
  for (const r of results) {
    if (r.error) rows.push({ file: r.file, face: '-', box: '', score: '', emotion: `error: ${r.error}`, gender: '' });
    else if (!r.faces?.length) rows.push({ file: r.file, face: '-', box: '', score: '', emotion: 'no faces', gender: '' });
    else
      r.faces.forEach((f, i) =>
        rows.push({
          file: r.file,
          face: String(i),
          box: f.box.map((v) => Math.round(v)).join(','),
          score: fmt(f.score, 2),
          emotion: f.emotion ? `${f.emotion.label} ${fmt(f.emotion.scores[f.emotion.label], 2)}` : '',
          gender: f.gender ? `${f.gender.label} ${fmt(f.gender.scores[f.gender.label], 2)}` : '',
        }),
      );
  }
  return formatTable(rows, ['file', 'face', 'box', 'score', 'emotion', 'gender'].map((k) => ({ header: k, value: (r: Record<string, string>) => r[k] })));
}

export function registerClassify(program: Command): void {
  const cmd = program
    .command('classify')
    .description('detect faces and classify emotion and gender in images (files, directories, globs)')
    .argument('<inputs...>', 'image files, directories (searched recursively), globs or http(s) URLs')
    .option('--json', 'JSON Lines: one object per input file', false)
    .option('--csv', 'CSV: one row per face', false)
    .option('--crops', 'inputs are already face crops: skip detection, classify each whole image', false)
    .option('--progress', 'show a progress bar on stderr (default: when stderr is a terminal and there are several files)')
    .option('--no-progress', 'never show a progress bar');
  addPipelineOptions(cmd).action(async (inputs: string[], o: PipelineCliOptions & { json: boolean; csv: boolean; crops: boolean; progress?: boolean }, c: Command) => {
    if (o.json && o.csv) throw new UserError('choose one of --json and --csv');
    const items = expandInputs(inputs);
    const fc = await FaceClassifier.load(classifierOptions(o, c.optsWithGlobals().backend));
    const emotionLabels = fc.emotion?.meta.labels ?? [];
    const genderLabels = fc.gender?.meta.labels ?? [];
    const showBar = o.progress ?? (process.stderr.isTTY === true && items.length > 1);
    const bar = showBar ? new cliProgress.SingleBar({ stream: process.stderr, format: 'classify [{bar}] {value}/{total} files | {eta_formatted} left | {failed} failed', hideCursor: true, noTTYOutput: true, notTTYSchedule: 2000 }, cliProgress.Presets.shades_classic) : undefined;
    let failed = 0;
    const table: FileResult[] = [];
    if (o.csv) process.stdout.write(csvHeader(emotionLabels, genderLabels) + '\n');
    bar?.start(items.length, 0, { failed: 0 });
    try {
      for (const item of items) {
        const r = await classifyFile(fc, item, { crop: o.crops });
        if (r.error) {
          failed++;
          if (!o.json && !o.csv) bar ? bar.update({ failed }) : process.stderr.write(`facecls: ${r.file}: ${r.error}\n`);
        }
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        else if (o.csv) process.stdout.write(csvRows(r, emotionLabels, genderLabels).join('\n') + '\n');
        else table.push(r);
        bar?.increment(1, { failed });
      }
    } finally {
      bar?.stop();
      await fc.dispose();
    }
    if (!o.json && !o.csv) console.log(tableRows(table));
    if (failed > 0) {
      process.stderr.write(`facecls: ${failed} of ${items.length} input(s) failed\n`);
      process.exitCode = 1;
    }
  });
}
