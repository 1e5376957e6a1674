/** `facecls train emotion|gender|custom --data PATH ...` and `facecls train --resume RUN_DIR`. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { ARCH_NAMES } from '../../framework/zoo.js';
import type { Task } from '../../io/model-store.js';
import { DATASET_FORMATS } from '../../data/load.js';
import type { DatasetFormat } from '../../data/dataset.js';
import { AUGMENT_PRESETS, augmentFrom, type AugmentOptions, type AugmentPreset } from '../../train/augment.js';
import type { DataSource } from '../../train/sources.js';
import { SCHEDULES, type ScheduleName } from '../../train/schedule.js';
import { selectionMetric, SELECTION_METRICS, type SelectionMetricName } from '../../train/best-model.js';
import { AGE_CENTRES, DEFAULT_AGE_SIGMA } from '../../data/age.js';
import { DEFAULT_TRAIN_OPTIONS, resumeTraining, train, type TrainOptions, type TrainSummary } from '../../train/train.js';
import { fmt, printJson } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';

export const TASKS: readonly Task[] = ['emotion', 'gender', 'age', 'custom'];

interface TrainCliOptions {
  data: string[];
  dataWeights?: string;
  format?: string;
  arch: string;
  input: string;
  channels: string;
  epochs?: string;
  batchSize: string;
  lr: string;
  minLr: string;
  schedule: string;
  warmup: string;
  lrFactor: string;
  plateauPatience: string;
  stepEpochs: string;
  earlyStopping: string;
  labelSmoothing: string;
  classWeights: string;
  augment: string;
  rotation?: string;
  shift?: string;
  zoom?: string;
  flip?: boolean;
  brightness?: string;
  contrast?: string;
  cutout?: string;
  aspect?: string;
  gamma?: string;
  blur?: string;
  noise?: string;
  jpeg?: string;
  grey?: string;
  mixup: string;
  l2?: string;
  seed: string;
  splitSeed?: string;
  valFraction: string;
  testFraction: string;
  cropMargin: string;
  cacheMb: string;
  workers?: string;
  maxMinutes?: string;
  maxBadFraction: string;
  trainLimit?: string;
  preciseBn: string;
  teacher?: string;
  init?: string;
  distill: string;
  distillTemperature: string;
  selectBy?: string;
  ageSigma?: string;
  out?: string;
  resume?: string;
  json: boolean;
  progress: boolean;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

function parseClassWeights(v: string): TrainOptions['classWeights'] {
  const s = v.trim().toLowerCase();
  if (s === 'none' || s === 'balanced') return s;
  const ws = s.split(',').map((x) => Number(x));
  if (ws.length < 2 || ws.some((w) => !Number.isFinite(w) || w < 0))
    throw new UserError(`--class-weights must be none, balanced or a comma-separated list of non-negative numbers, got "${v}"`);
  return ws;
}

/** --augment's preset with the flags that override its values. */
function augmentOf(o: TrainCliOptions): AugmentOptions {
  if (!Object.hasOwn(AUGMENT_PRESETS, o.augment)) throw new UserError(`--augment must be paper, robust or none, got "${o.augment}"`);
  const f = (v: string | undefined, name: string, max: number) => (v === undefined ? undefined : parseFloatOption(v, name, 0, max));
  const overrides: Partial<AugmentOptions> = {
    rotation: f(o.rotation, '--rotation', 180),
    shift: f(o.shift, '--shift', 0.5),
    zoom: f(o.zoom, '--zoom', 0.9),
    flip: o.flip,
    brightness: f(o.brightness, '--brightness', 1),
    contrast: f(o.contrast, '--contrast', 1),
    cutout: f(o.cutout, '--cutout', 1),
    aspect: f(o.aspect, '--aspect', 1),
    gamma: f(o.gamma, '--gamma', 2),
    blur: f(o.blur, '--blur', 10),
    noise: f(o.noise, '--noise', 1),
    grey: f(o.grey, '--grey', 1),
    jpeg: f(o.jpeg, '--jpeg', 1),
  };
  return augmentFrom(o.augment as AugmentPreset, overrides);
}

/** --data given several times, with --data-weights w1,w2,... (default 1 each). */
function sourcesFrom(o: TrainCliOptions): DataSource[] {
  const weights = o.dataWeights === undefined ? o.data.map(() => 1) : o.dataWeights.split(',').map((w) => parseFloatOption(w, '--data-weights', 0, 1000));
  if (weights.length !== o.data.length)
    throw new UserError(`--data-weights lists ${weights.length} weights for ${o.data.length} datasets (one per --data, in order)`);
  return o.data.map((p, i) => ({ path: path.resolve(p), weight: weights[i] }));
}

export function trainOptionsFrom(task: Task, o: TrainCliOptions, backend?: string): TrainOptions {
  if (o.data.length === 0) throw new UserError('--data PATH is required (or --resume RUN_DIR)');
  if (o.format !== undefined && o.data.length > 1) throw new UserError('--format applies to a single --data; with several datasets each layout is detected');
  const sources = sourcesFrom(o);
  if (!ARCH_NAMES.includes(o.arch)) throw new UserError(`unknown architecture "${o.arch}": choose one of ${ARCH_NAMES.join(', ')}`);
  if (o.format !== undefined && !DATASET_FORMATS.includes(o.format as DatasetFormat))
    throw new UserError(`--format must be one of ${DATASET_FORMATS.join(', ')}, got "${o.format}"`);
  if (!SCHEDULES.includes(o.schedule as ScheduleName)) throw new UserError(`--schedule must be one of ${SCHEDULES.join(', ')}, got "${o.schedule}"`);
  const channels = parseIntOption(o.channels, '--channels', 1, 3);
  if (channels !== 1 && channels !== 3) throw new UserError(`--channels must be 1 (grey) or 3 (RGB), got ${channels}`);
  const d = DEFAULT_TRAIN_OPTIONS;
  return {
    ...d,
    task,
    data: sources[0].path,
    ...(o.format ? { format: o.format as DatasetFormat } : {}),
    ...(sources.length > 1 || sources[0].weight !== 1 ? { sources } : {}),
    arch: o.arch,
    inputSize: parseIntOption(o.input, '--input', 5, 512),
    channels,
    epochs: o.epochs === undefined ? d.epochs : parseIntOption(o.epochs, '--epochs', 1),
    batchSize: parseIntOption(o.batchSize, '--batch-size', 1, 4096),
    schedule: {
      name: o.schedule as ScheduleName,
      lr: parseFloatOption(o.lr, '--lr', 1e-8, 10),
      minLr: parseFloatOption(o.minLr, '--min-lr', 0, 10),
      warmupEpochs: parseIntOption(o.warmup, '--warmup', 0),
      factor: parseFloatOption(o.lrFactor, '--lr-factor', 1e-6, 1),
      patience: parseIntOption(o.plateauPatience, '--plateau-patience', 1),
      stepEpochs: parseIntOption(o.stepEpochs, '--step-epochs', 1),
    },
    earlyStopping: parseIntOption(o.earlyStopping, '--early-stopping', 0),
    labelSmoothing: parseFloatOption(o.labelSmoothing, '--label-smoothing', 0, 0.99),
    classWeights: parseClassWeights(o.classWeights),
    augment: augmentOf(o),
    mixup: parseFloatOption(o.mixup, '--mixup', 0, 100),
    ...(o.l2 !== undefined ? { l2: parseFloatOption(o.l2, '--l2', 0, 10) } : {}),
    seed: parseIntOption(o.seed, '--seed', 0, 2 ** 32 - 1),
    ...(o.splitSeed !== undefined ? { splitSeed: parseIntOption(o.splitSeed, '--split-seed', 0, 2 ** 32 - 1) } : {}),
    valFraction: parseFloatOption(o.valFraction, '--val-fraction', 0.001, 0.5),
    testFraction: parseFloatOption(o.testFraction, '--test-fraction', 0, 0.5),
    cropMargin: parseFloatOption(o.cropMargin, '--crop-margin', -0.4, 2),
    cacheMb: parseFloatOption(o.cacheMb, '--cache-mb', 0, 1e6),
    ...(o.workers !== undefined ? { workers: parseIntOption(o.workers, '--workers', 0, 64) } : {}),
    ...(backend ? { backend } : {}),
    maxBadFraction: parseFloatOption(o.maxBadFraction, '--max-bad-fraction', 0, 1),
    ...(o.trainLimit !== undefined ? { trainLimit: parseIntOption(o.trainLimit, '--train-limit', 1) } : {}),
    preciseBnBatches: parseIntOption(o.preciseBn, '--precise-bn', 0),
    ...(o.init ? { init: path.resolve(o.init) } : {}),
    ...taskOptions(task, o),
    ...(o.teacher
      ? {
          teacher: path.resolve(o.teacher),
          distillWeight: parseFloatOption(o.distill, '--distill', 0, 1),
          distillTemperature: parseFloatOption(o.distillTemperature, '--distill-temperature', 0.05, 100),
        }
      : {}),
  };
}

/** --select-by (default: val_mae for age, val_loss otherwise) and the age codec; age refuses what only classes have. */
function taskOptions(task: Task, o: TrainCliOptions): Pick<TrainOptions, 'selectBy' | 'age'> {
  const selectBy = o.selectBy ?? (task === 'age' ? 'val_mae' : undefined);
  if (selectBy !== undefined) selectionMetric(selectBy);
  if (selectBy === 'val_mae' && task !== 'age') throw new UserError('--select-by val_mae applies to age runs only');
  if (task !== 'age') return selectBy ? { selectBy: selectBy as SelectionMetricName } : {};
  if (Number(o.mixup) > 0 || Number(o.labelSmoothing) > 0 || o.classWeights !== 'none' || o.teacher) {
    throw new UserError(
      'age runs train on age distributions: --mixup, --label-smoothing, --class-weights and --teacher do not apply (--age-sigma sets the label noise)',
    );
  }
  return {
    selectBy: selectBy as SelectionMetricName,
    age: { centres: [...AGE_CENTRES], sigma: o.ageSigma === undefined ? DEFAULT_AGE_SIGMA : parseFloatOption(o.ageSigma, '--age-sigma', 0, 20) },
  };
}

function printSummary(s: TrainSummary, json: boolean): void {
  if (json) return printJson({ ...s, history: s.history });
  const reason = {
    completed: 'completed all epochs',
    'early-stopping': 'early stopping (no improvement of the selection metric)',
    'time-limit': '--max-minutes reached',
  }[s.stopReason];
  console.log(`run: ${s.runDir}`);
  console.log(`stopped: ${reason} after epoch ${s.epochsDone} (${fmt(s.seconds / 60, 1)} min)`);
  const figure = s.bestValMae !== undefined ? `val MAE ${fmt(s.bestValMae, 3)} years` : `val accuracy ${fmt(s.bestValAcc * 100, 2)}%`;
  console.log(`best: epoch ${s.bestEpoch}, val loss ${fmt(s.bestValLoss, 4)}, ${figure} -> ${path.join(s.runDir, 'best')}`);
  if (s.skipped.count) console.log(`skipped inputs: ${s.skipped.count} (see training.json)`);
  if (s.stopReason === 'time-limit') console.log(`continue with: facecls train --resume ${s.runDir}`);
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a classifier (emotion, gender or custom classes) or an age estimator (age, UTKFace) with validation-based model selection; resumable')
    .argument('[task]', `what to train: ${TASKS.join(', ')}`)
    .option(
      '--data <path>',
      'dataset: fer2013.csv, FER-2013 folders, UTKFace folder, IMDB-WIKI (imdb.mat + imdb_crop/), RAF-DB (list_patition_label.txt + aligned/), or <root>/[train/]<class>/* folders; repeat to train on several at once',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--data-weights <w1,w2,...>', 'with several --data: sampling weight of each (passes over its training samples per epoch; default 1 each)')
    .option('--format <name>', `dataset layout, detected when omitted: ${DATASET_FORMATS.join(', ')}`)
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')}`, DEFAULT_TRAIN_OPTIONS.arch)
    .option('--input <size>', 'square model input size', String(DEFAULT_TRAIN_OPTIONS.inputSize))
    .option('--channels <n>', '1 = grey (paper), 3 = RGB', '1')
    .option('--epochs <n>', 'maximum epochs (with --resume: extend the run to n epochs)')
    .option('--batch-size <n>', 'batch size', String(DEFAULT_TRAIN_OPTIONS.batchSize))
    .option('--lr <x>', 'initial Adam learning rate', String(DEFAULT_TRAIN_OPTIONS.schedule.lr))
    .option('--min-lr <x>', 'learning-rate floor', String(DEFAULT_TRAIN_OPTIONS.schedule.minLr))
    .option('--schedule <name>', `learning-rate schedule: ${SCHEDULES.join(', ')} (plateau = reduce on val-loss plateau)`, DEFAULT_TRAIN_OPTIONS.schedule.name)
    .option('--warmup <epochs>', 'linear learning-rate warm-up epochs', '0')
    .option('--lr-factor <x>', 'plateau / step schedules: multiply the learning rate by this', String(DEFAULT_TRAIN_OPTIONS.schedule.factor))
    .option('--plateau-patience <epochs>', 'plateau schedule: epochs without improvement before reducing', String(DEFAULT_TRAIN_OPTIONS.schedule.patience))
    .option('--step-epochs <n>', 'step schedule: reduce every n epochs', String(DEFAULT_TRAIN_OPTIONS.schedule.stepEpochs))
    .option('--early-stopping <epochs>', 'stop after this many epochs without val-loss improvement (0 = never)', String(DEFAULT_TRAIN_OPTIONS.earlyStopping))
    .option('--label-smoothing <e>', 'label smoothing epsilon', '0')
    .option('--class-weights <w>', 'none, balanced (n / (K * count)), or w1,w2,... per class', 'none');
  addAugmentOptions(cmd);
  cmd
    .option('--mixup <alpha>', 'mixup Beta(alpha, alpha) (0 = off)', '0')
    .option('--l2 <x>', "L2 on conv kernels (default: the architecture's, 0.01 for the Xceptions)")
    .option(
      '--seed <n>',
      'seed for data order, augmentation and (unless --split-seed) the split of datasets without an official one; weight initialisation is not seeded',
      String(DEFAULT_TRAIN_OPTIONS.seed),
    )
    .option('--split-seed <n>', 'seed for the split of datasets without an official one (default: --seed); runs that share it can be compared and ensembled')
    .option('--val-fraction <f>', 'validation fraction for datasets without an official split', String(DEFAULT_TRAIN_OPTIONS.valFraction))
    .option('--test-fraction <f>', 'test fraction held out for datasets without an official split', String(DEFAULT_TRAIN_OPTIONS.testFraction))
    .option('--crop-margin <f>', "grow each image's crop by this fraction per side (edges replicated); stored in the model", '0')
    .option('--cache-mb <n>', 'memory budget for decoded model-size samples; the rest is streamed from disk', String(DEFAULT_TRAIN_OPTIONS.cacheMb))
    .option('--workers <n>', 'training worker threads (0 = train on the main thread); default one per core')
    .option('--max-minutes <m>', 'stop after this many minutes (the last complete epoch is kept; resume later)')
    .option('--max-bad-fraction <f>', 'fail when more than this fraction of a split is unreadable or malformed', String(DEFAULT_TRAIN_OPTIONS.maxBadFraction))
    .option('--train-limit <n>', 'train on a seeded subset of n samples (quick experiments)')
    .option(
      '--precise-bn <batches>',
      're-estimate batch-norm statistics from this many training batches before validating (0 = off)',
      String(DEFAULT_TRAIN_OPTIONS.preciseBnBatches),
    )
    .option(
      '--init <model>',
      "start from this trained model's weights (same architecture) instead of a random initialisation; other labels, input size or colour mode are adapted (see README)",
    )
    .option(
      '--teacher <model>',
      'distil from this trained model (same labels; with another input size or channels it predicts each training image once, un-augmented)',
    )
    .option('--distill <w>', "weight of the teacher's soft targets (with --teacher)", '0.5')
    .option('--distill-temperature <T>', "softening temperature for the teacher's predictions", '2')
    .option(
      '--select-by <metric>',
      `validation metric that picks best/, drives early stopping and the plateau schedule: ${Object.keys(SELECTION_METRICS).join(', ')} (default val_mae for age, val_loss otherwise)`,
    )
    .option('--age-sigma <years>', 'age runs: label noise of the target distributions over the age anchors (0 = two-hot)', String(DEFAULT_AGE_SIGMA))
    .option('--out <dir>', 'run directory (default runs/<task>-<arch>-<time>)')
    .option('--resume <run-dir>', 'continue a run from its last complete checkpoint')
    .option('--json', 'print the summary as JSON', false)
    .option('--no-progress', 'no progress bar')
    .action(trainAction);
}

/** The augmentation flags: a preset and the values that override it. */
function addAugmentOptions(cmd: Command): void {
  cmd
    .option(
      '--augment <preset>',
      'paper (rotation 10, shift 0.1, zoom 0.1, flip, brightness/contrast 0.1), robust (framing, rotation and image-quality jitter; see README) or none',
      'paper',
    )
    .option('--rotation <deg>', 'max rotation in degrees (overrides the preset)')
    .option('--shift <f>', 'max shift as a fraction of the side')
    .option('--zoom <f>', 'max zoom as a fraction')
    .option('--flip', 'random horizontal flip')
    .option('--no-flip', 'no horizontal flip')
    .option('--brightness <f>', 'max brightness change (fraction of full scale)')
    .option('--contrast <f>', 'max contrast change (fraction)')
    .option('--cutout <f>', 'cutout square side as a fraction of the image (0 = off)')
    .option('--aspect <f>', 'aspect jitter: horizontal and vertical scale differ by up to a factor 1 + f')
    .option('--gamma <f>', 'gamma jitter: values raised to exp(u), |u| <= f')
    .option('--blur <sigma>', 'half of the images blurred with a Gaussian of sigma up to this (pixels at model input)')
    .option('--noise <f>', 'half of the images get Gaussian noise of sd up to this fraction of full scale')
    .option('--jpeg <p>', 'probability of re-compressing an image as JPEG at a quality from 20 to 90 (blocking, ringing)')
    .option('--grey <p>', 'RGB models: probability of turning an image grey');
}

/** `facecls train <task> ...` (a new run) or `facecls train --resume <run-dir>`. */
async function trainAction(taskArg: string | undefined, o: TrainCliOptions, cmd: Command): Promise<void> {
  const backend = cmd.optsWithGlobals().backend as string | undefined;
  const maxMinutes = o.maxMinutes === undefined ? undefined : parseFloatOption(o.maxMinutes, '--max-minutes', 0);
  const control = { maxMinutes, progress: o.progress };
  let summary: TrainSummary;
  if (o.resume) {
    summary = await resumeTraining(
      path.resolve(o.resume),
      {
        ...(o.epochs !== undefined ? { epochs: parseIntOption(o.epochs, '--epochs', 1) } : {}),
        ...(o.workers !== undefined ? { workers: parseIntOption(o.workers, '--workers', 0, 64) } : {}),
        ...(backend ? { backend } : {}),
      },
      control,
    );
  } else {
    if (!taskArg) throw new UserError(`say what to train: facecls train <${TASKS.join('|')}> --data PATH`);
    if (!TASKS.includes(taskArg as Task)) throw new UserError(`unknown task "${taskArg}": choose one of ${TASKS.join(', ')}`);
    const opts = trainOptionsFrom(taskArg as Task, o, backend);
    const runDir = path.resolve(o.out ?? path.join('runs', `${taskArg}-${opts.arch}-${timestamp()}`));
    summary = await train(opts, runDir, control);
  }
  printSummary(summary, o.json);
}
