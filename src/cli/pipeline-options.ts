/**
 * The pipeline's command-line options, declared once for every command that runs it (classify,
 * detect, annotate, video, webcam, batch submit, serve, saliency, bench pipeline): detector, models,
 * runtime, test-time augmentation, crop and input-file options. Options with a fixed set of values use
 * commander's `.choices()` (checked, and listed in --help); `classifierOptions` turns the parsed
 * values into FaceClassifier options.
 */
import { Option, type Command } from 'commander';
import { MAX_INPUT_BYTES } from '../data/decode.js';
import { DEFAULT_DETECTOR } from '../detect/index.js';
import { DETECTORS, parseDetectorName, type TileMode } from '../detect/types.js';
import { UserError } from '../errors.js';
import { CROP_FRAMINGS, type CropFraming } from '../pipeline/crop-framing.js';
import { CLASSIFIER_TASKS } from '../core/types.js';
import { DEFAULT_CROP_FRAMING, defaultModelDir, type FaceClassifierOptions } from '../pipeline/face-classifier.js';
import { parseRuntimeOption, RUNTIME_OPTION_HELP, RUNTIMES } from '../runtime/options.js';
import { parseTtaOption, TTA_MODES } from '../runtime/tta.js';
import { parseByteSize, parseFloatOption, parseIntOption } from './options.js';

export interface PipelineCliOptions {
  detector: string;
  emotionModel?: string;
  genderModel?: string;
  ageModel?: string;
  accurate?: boolean;
  tta?: string;
  emotion: boolean;
  gender: boolean;
  /** false with --no-age; absent (batch jobs submitted before the age task) = on. */
  age?: boolean;
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

export const TILE_MODES = ['auto', 'always', 'dense', 'off'] as const;

const TTA_HELP =
  "classifier test-time augmentation: flip (average with the mirror image) or none (one pass per face, half the classifier time); default the model's (flip for the shipped models)";

/** `--detector <name>`, one of DETECTORS, default BlazeFace. */
export function detectorOption(help = 'face detector'): Option {
  return new Option('--detector <name>', help).choices(DETECTORS).default(DEFAULT_DETECTOR);
}

/** `--runtime <name>`: onnx or tfjs; unset: env FACECLS_RUNTIME, else onnx. */
export function runtimeOption(help = RUNTIME_OPTION_HELP): Option {
  return new Option('--runtime <name>', help).choices(RUNTIMES);
}

/** `--tta <mode>`: none or flip; unset: each model's own. */
export function ttaOption(help = TTA_HELP): Option {
  return new Option('--tta <mode>', help).choices(TTA_MODES);
}

export function marginOption(
  help = 'crop margin around the detector box, per side, as a fraction of the box (default: the model card margin converted to the detector framing; docs/pipeline.md)',
): Option {
  return new Option('--margin <fraction>', help);
}

export function minFaceSizeOption(): Option {
  return new Option('--min-face-size <px>', 'ignore faces smaller than this many pixels');
}

/** Help texts of the model options where a command words them differently. */
export interface ModelOptionHelp {
  emotionModel?: string;
  genderModel?: string;
  ageModel?: string;
  accurate?: string;
}

/** `--emotion-model`, `--gender-model`, `--age-model`, `--accurate`, `--no-emotion`, `--no-gender`, `--no-age`. */
export function addModelOptions(cmd: Command, help: ModelOptionHelp = {}): Command {
  return cmd
    .option('--emotion-model <dir>', help.emotionModel ?? 'emotion model directory (default: models/emotion of the project)')
    .option('--gender-model <dir>', help.genderModel ?? 'gender model directory (default: models/gender of the project)')
    .option('--age-model <dir>', help.ageModel ?? 'age model directory (default: models/age of the project)')
    .option(
      '--accurate',
      help.accurate ??
        'use the accurate models (models/<task>-accurate: an ensemble or a larger input, slower; the fast ones where none is shipped) unless --emotion-model / --gender-model / --age-model name one',
      false,
    )
    .option('--no-emotion', 'skip emotion classification')
    .option('--no-gender', 'skip gender classification')
    .option('--no-age', 'skip age estimation');
}

/** Detector options shared by detect, classify, annotate, video, webcam and batch submit. */
export function addDetectorOptions(cmd: Command): Command {
  return cmd
    .addOption(detectorOption())
    .addOption(minFaceSizeOption())
    .option('--score-threshold <p>', 'minimum detector score (CNN detectors)')
    .option('--max-faces <n>', 'at most this many faces per image')
    .addOption(
      new Option(
        '--tiles <mode>',
        'BlazeFace second look at small faces through frame tiles: auto (when a possible face scored low), always, dense (always, plus 256 px tiles: crowds, several times slower), off',
      )
        .choices(TILE_MODES)
        .default('auto'),
    )
    .option('--max-pixels <n>', 'refuse images with more pixels than this (decompression bombs)');
}

/** Options shared by classify, annotate, video, webcam and batch submit. */
export function addPipelineOptions(cmd: Command): Command {
  return addModelOptions(addDetectorOptions(cmd))
    .addOption(runtimeOption())
    .addOption(ttaOption())
    .addOption(marginOption())
    .option('--no-align', 'do not level the eyes of each face before classifying (BlazeFace keypoints; the Haar cascade has none)')
    .addOption(
      new Option('--crop-framing <mode>', 'with --crops: detect (find the face inside each crop and frame it like a detected face) or whole')
        .choices(CROP_FRAMINGS)
        .default(DEFAULT_CROP_FRAMING),
    );
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

let accurateNoteShown = false;

/**
 * With --accurate, a task without a shipped accurate model runs its fast one: said once on stderr
 * (e.g. a checkout without models/age-accurate), unless the task is off or its model is named.
 */
function noteAccurateFallbacks(o: PipelineCliOptions): void {
  if (!o.accurate || accurateNoteShown) return;
  const given = { emotion: o.emotionModel, gender: o.genderModel, age: o.ageModel };
  const fast = CLASSIFIER_TASKS.filter((t) => o[t] !== false && given[t] === undefined && defaultModelDir(t, 'accurate') === defaultModelDir(t, 'fast'));
  if (fast.length === 0) return;
  accurateNoteShown = true;
  process.stderr.write(`facecls: no accurate ${fast.join(', ')} model is shipped: --accurate uses ${fast.map((t) => `models/${t}`).join(', ')}\n`);
}

/**
 * FaceClassifier options from parsed pipeline options. Values also arrive from batch jobs (not through
 * commander), so the fixed-choice ones are checked here too.
 */
export function classifierOptions(o: PipelineCliOptions, backend?: string): FaceClassifierOptions {
  noteAccurateFallbacks(o);
  return {
    detector: parseDetectorName(o.detector),
    emotionModel: o.emotionModel,
    genderModel: o.genderModel,
    ageModel: o.ageModel,
    variant: o.accurate ? 'accurate' : 'fast',
    tta: parseTtaOption(o.tta, '--tta'),
    emotion: o.emotion,
    gender: o.gender,
    age: o.age,
    runtime: o.runtime === undefined ? undefined : parseRuntimeOption(o.runtime, '--runtime'),
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

/** Options of commands that read image files: the size limit and special files. */
export function addInputFileOptions(cmd: Command): Command {
  return cmd
    .option(
      '--max-bytes <n>',
      `refuse image files larger than this, checked before reading (bytes; K, M, G suffixes; default ${MAX_INPUT_BYTES / 1024 / 1024}M)`,
    )
    .option('--allow-special-files', 'read inputs that are not regular files (FIFOs, /dev/stdin, devices), up to --max-bytes; refused by default', false);
}

export interface InputFileCliOptions {
  maxBytes?: string;
  allowSpecialFiles?: boolean;
}

export function inputFileOptions(o: InputFileCliOptions): { maxBytes?: number; allowSpecialFiles: boolean } {
  return { maxBytes: o.maxBytes === undefined ? undefined : parseByteSize(o.maxBytes, '--max-bytes'), allowSpecialFiles: o.allowSpecialFiles === true };
}
