/**
 * `facecls classify <files|dirs|globs...>`: every face of every image with box, detector score,
 * emotion and gender. Output: table (default), JSON Lines (--json, one object per input file) or CSV
 * (--csv, one row per face). A file that fails gets an error entry and the batch continues; the exit
 * code is 1 when any input failed.
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { MAX_INPUT_BYTES } from '../../data/decode.js';
import { DETECTORS, isDetectorName, type TileMode } from '../../detect/types.js';
import { UserError } from '../../errors.js';
import { DEFAULT_CROP_FRAMING, FaceClassifier, type FaceClassifierOptions } from '../../pipeline/face-classifier.js';
import { CROP_FRAMINGS, type CropFraming } from '../../pipeline/crop-framing.js';
import { classifyFile, type FileResult } from '../../pipeline/file-result.js';
import { expandInputs } from '../../inputs/expand.js';
import { parseRuntimeOption, RUNTIME_OPTION_HELP } from '../../runtime/options.js';
import { parseTtaOption } from '../../runtime/tta.js';
import { csvHeader, csvRows } from '../csv.js';
import { FILES_FROM_HELP, inputItems } from '../files-from.js';
import { fmt, formatTable } from '../output.js';
import { parseByteSize, parseFloatOption, parseIntOption } from '../options.js';

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

/** Detector options shared by detect, classify, annotate, video and webcam. */
export function addDetectorOptions(cmd: Command): Command {
  return cmd
    .option('--detector <name>', `face detector: ${DETECTORS.join(' | ')}`, 'blazeface')
    .option('--min-face-size <px>', 'ignore faces smaller than this many pixels')
    .option('--score-threshold <p>', 'minimum detector score (CNN detectors)')
    .option('--max-faces <n>', 'at most this many faces per image')
    .option('--tiles <mode>', 'BlazeFace second look at small faces through frame tiles: auto (when a possible face scored low), always, dense (always, plus 256 px tiles: crowds, several times slower), off', 'auto')
    .option('--max-pixels <n>', 'refuse images with more pixels than this (decompression bombs)');
}

/** Options shared by classify, annotate, video and webcam. */
export function addPipelineOptions(cmd: Command): Command {
  return addDetectorOptions(cmd)
    .option('--emotion-model <dir>', 'emotion model directory (default: models/emotion of the project)')
    .option('--gender-model <dir>', 'gender model directory (default: models/gender of the project)')
    .option('--accurate', 'use the accurate models (models/<task>-accurate: an ensemble or a larger input, slower; the fast ones where none is shipped) unless --emotion-model / --gender-model name one', false)
    .option('--no-emotion', 'skip emotion classification')
    .option('--no-gender', 'skip gender classification')
    .option('--runtime <name>', RUNTIME_OPTION_HELP)
    .option('--tta <mode>', "classifier test-time augmentation: flip (average with the mirror image) or none (one pass per face, half the classifier time); default the model's (flip for the shipped models)")
    .option('--margin <fraction>', 'crop margin around the detector box, per side, as a fraction of the box (default: the model card margin converted to the detector framing; docs/pipeline.md)')
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
  if (v === 'dense') return 'dense';
  throw new UserError(`--tiles must be auto, always, dense or off, got "${v}"`);
}

export function classifierOptions(o: PipelineCliOptions, backend?: string): FaceClassifierOptions {
  if (!isDetectorName(o.detector)) throw new UserError(`unknown detector "${o.detector}": choose one of ${DETECTORS.join(', ')}`);
  parseRuntimeOption(o.runtime, '--runtime');
  return {
    detector: o.detector,
    emotionModel: o.emotionModel,
    genderModel: o.genderModel,
    variant: o.accurate ? 'accurate' : 'fast',
    tta: parseTtaOption(o.tta, '--tta'),
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

export type { FileResult, InputItem } from '../../pipeline/file-result.js';
export { csvHeader, csvRows } from '../csv.js';

function tableRows(results: FileResult[], detectOnly: boolean) {
  if (detectOnly) {
    const rows: Array<Record<string, string>> = [];
    const pt = (p?: [number, number]) => (p ? p.map((v) => Math.round(v)).join(',') : '');
    for (const r of results) {
      if (r.error) rows.push({ file: r.file, face: '-', box: `error: ${r.error}`, score: '', eyes: '' });
      else if (!r.faces?.length) rows.push({ file: r.file, face: '-', box: 'no faces', score: '', eyes: '' });
      else r.faces.forEach((f, i) => rows.push({ file: r.file, face: String(i), box: f.box.map((v) => Math.round(v)).join(','), score: fmt(f.score, 2), eyes: f.keypoints ? `${pt(f.keypoints.rightEye)} ${pt(f.keypoints.leftEye)}` : '' }));
    }
    return formatTable(rows, ['file', 'face', 'box', 'score', 'eyes'].map((k) => ({ header: k === 'eyes' ? 'eyes (right, left)' : k, value: (r: Record<string, string>) => r[k] })));
  }
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

/** Write to stdout, waiting when its buffer is full (a slow pipe must not make output pile up in memory). */
async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/** Options of commands that read image files: the size limit and special files. */
export function addInputFileOptions(cmd: Command): Command {
  return cmd
    .option('--max-bytes <n>', `refuse image files larger than this, checked before reading (bytes; K, M, G suffixes; default ${MAX_INPUT_BYTES / 1024 / 1024}M)`)
    .option('--allow-special-files', 'read inputs that are not regular files (FIFOs, /dev/stdin, devices), up to --max-bytes; refused by default', false);
}

export interface InputFileCliOptions {
  maxBytes?: string;
  allowSpecialFiles?: boolean;
}

export function inputFileOptions(o: InputFileCliOptions): { maxBytes?: number; allowSpecialFiles: boolean } {
  return { maxBytes: o.maxBytes === undefined ? undefined : parseByteSize(o.maxBytes, '--max-bytes'), allowSpecialFiles: o.allowSpecialFiles === true };
}

type ClassifyCliOptions = PipelineCliOptions & InputFileCliOptions & { json: boolean; csv: boolean; crops: boolean; progress?: boolean; filesFrom?: string };

export function registerClassify(program: Command): void {
  registerImageCommand(program, 'classify');
  registerImageCommand(program, 'detect');
}

/**
 * `classify` (detect + emotion + gender; with --no-emotion --no-gender detection only) and `detect`
 * (detection only: boxes, scores, keypoints), one code path.
 */
function registerImageCommand(program: Command, name: 'classify' | 'detect'): void {
  const detectCommand = name === 'detect';
  const cmd = program
    .command(name)
    .description(
      detectCommand
        ? 'detect faces in images (files, directories, globs, URLs, --files-from lists): boxes, scores and eye/nose/mouth/ear keypoints, no classification'
        : 'detect faces and classify emotion and gender in images (files, directories, globs, URLs, --files-from lists); with --no-emotion --no-gender, detection only',
    )
    .argument('[inputs...]', 'image files, directories (searched recursively), globs or http(s) URLs')
    .option('--files-from <file|->', FILES_FROM_HELP)
    .option('--json', 'JSON Lines: one object per input file', false)
    .option('--csv', 'CSV: one row per face', false)

    .option('--progress', 'show a progress bar on stderr (default: when stderr is a terminal and there are several files)')
    .option('--no-progress', 'never show a progress bar');
  if (detectCommand) addInputFileOptions(addDetectorOptions(cmd));
  else addInputFileOptions(addPipelineOptions(cmd.option('--crops', 'inputs are already face crops: skip detection, classify each whole image', false)));
  cmd.action(async (inputs: string[], o: ClassifyCliOptions, c: Command) => {
    if (o.json && o.csv) throw new UserError('choose one of --json and --csv');
    if (inputs.length === 0 && o.filesFrom === undefined) throw new UserError('no inputs: give image files, directories or globs, or --files-from <file|->');
    if (detectCommand) Object.assign(o, { emotion: false, gender: false });
    const detectOnly = !o.emotion && !o.gender;
    if (detectOnly && o.crops) throw new UserError('--crops with --no-emotion --no-gender leaves nothing to do');
    const fileOpts = inputFileOptions(o);
    const fc = await FaceClassifier.load({ ...classifierOptions(o, c.optsWithGlobals().backend), ...fileOpts });
    const emotionLabels = fc.emotion?.meta.labels ?? [];
    const genderLabels = fc.gender?.meta.labels ?? [];
    // With a list the total is unknown until its end: the bar then counts without an estimate.
    const streaming = o.filesFrom !== undefined;
    const showBar = o.progress ?? (process.stderr.isTTY === true && (streaming || inputs.length > 1));
    const format = streaming ? 'classify {value} files | {failed} failed' : 'classify [{bar}] {value}/{total} files | {eta_formatted} left | {failed} failed';
    const bar = showBar ? new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true, noTTYOutput: true, notTTYSchedule: 2000 }, cliProgress.Presets.shades_classic) : undefined;
    let failed = 0;
    let total = 0;
    const table: FileResult[] = [];
    try {
      // Arguments are expanded up front (so the bar knows its total); a list streams.
      const fromArgs = streaming ? undefined : expandInputs(inputs);
      if (o.csv) await writeOut(csvHeader(emotionLabels, genderLabels, detectOnly) + '\n');
      bar?.start(fromArgs?.length ?? 0, 0, { failed: 0 });
      for await (const item of fromArgs ?? inputItems(inputs, o.filesFrom)) {
        total++;
        // Any failure is reported against its file; the batch goes on.
        const r: FileResult = await classifyFile(fc, item, { crop: o.crops === true, detectOnly });
        if (r.error) {
          failed++;
          if (!o.json && !o.csv) bar ? bar.update({ failed }) : process.stderr.write(`facecls: ${r.file}: ${r.error}\n`);
        }
        if (o.json) await writeOut(JSON.stringify(r) + '\n');
        else if (o.csv) await writeOut(csvRows(r, emotionLabels, genderLabels, detectOnly).join('\n') + '\n');
        else table.push(r);
        if (streaming) bar?.setTotal(total);
        bar?.increment(1, { failed });
      }
    } finally {
      bar?.stop();
      await fc.dispose();
    }
    if (!o.json && !o.csv) console.log(tableRows(table, detectOnly));
    if (failed > 0) {
      process.stderr.write(`facecls: ${failed} of ${total} input(s) failed\n`);
      process.exitCode = 1;
    }
  });
}
