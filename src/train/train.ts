/**
 * The training pipeline behind `facecls train`: dataset -> SampleStore (bounded cache) ->
 * augmented batches -> Trainer (src/engine) -> per-epoch validation, best model by validation loss,
 * schedules, early stopping, atomic checkpoints, CSV log and PNG curves in a run directory.
 *
 * Run directory:
 *   config.json      the resolved options (resume reads them back)
 *   split.json       how the data was split (seed, counts, file names per split)
 *   log.csv          one row per completed epoch
 *   best/            best model by validation loss (facecls model format, with ModelMeta)
 *   ckpt-NNNNNN/     last complete epoch: model + optimizer.bin; checkpoint.json points to it
 *   checkpoint.json  written atomically after the checkpoint folder is complete
 *   loss.png, accuracy.png   curves
 *   training.json    summary when the run ends (stop reason, best epoch, skipped inputs)
 * Validation is the dataset's val split (FER-2013 PublicTest); the test split is never read here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../engine/backend.js';
import { createTrainer } from '../engine/trainer.js';
import type { Trainer, TrainerConfig } from '../engine/trainer-types.js';
import { UserError } from '../errors.js';
import { buildModel } from '../framework/zoo.js';
import { writeFileAtomic } from '../io/fs-handler.js';
import { loadModel, saveModel, type ModelMeta, type Task } from '../io/model-store.js';
import { createRuntime } from '../runtime/factory.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { labelCounts, type Dataset, type DatasetFormat, type Skipped } from '../data/dataset.js';
import { preprocessFace } from '../data/preprocess.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { DEFAULT_MAX_BAD_FRACTION, SampleStore } from '../data/store.js';
import { PAPER_AUGMENT, type AugmentOptions } from './augment.js';
import { planInit } from './init-weights.js';
import { balancedClassWeights, epochOrder, makeBatches } from './batches.js';
import { writeChartPng } from './plot.js';
import { countProgress, epochProgress, fmtDuration } from './progress.js';
import { initialMonitor, lrForEpoch, observe, type MonitorState, type ScheduleConfig } from './schedule.js';
import { combineScores, combineSources, dataSources, loadSources, sourceRanges, weightedEpochOrder, type DataSource, type SourceScore } from './sources.js';

export interface TrainOptions {
  task: Task;
  /** The dataset (the first one when `sources` lists several). */
  data: string;
  format?: DatasetFormat;
  /** Several datasets trained on at once, with sampling weights (src/train/sources.ts); absent = `data` alone. */
  sources?: DataSource[];
  arch: string;
  inputSize: number;
  channels: 1 | 3;
  epochs: number;
  batchSize: number;
  schedule: Omit<ScheduleConfig, 'epochs'>;
  /** Stop after this many epochs without val-loss improvement; 0 = never (paper: 50). */
  earlyStopping: number;
  labelSmoothing: number;
  classWeights: 'none' | 'balanced' | number[];
  augment: AugmentOptions;
  mixup: number;
  /** L2 on conv kernels; undefined = the architecture's default (0.01 for the Xceptions). */
  l2?: number;
  seed: number;
  /** Seed of the split of datasets without an official one; undefined = `seed`. Lets runs that differ in
   * data order and augmentation share a split (and so be compared and ensembled). */
  splitSeed?: number;
  /** Fractions for datasets without an official split (UTKFace, IMDB-WIKI, plain folders). */
  valFraction: number;
  testFraction: number;
  cropMargin: number;
  cacheMb: number;
  workers?: number;
  backend?: string;
  /** Fraction of unreadable samples per split above which the run fails. */
  maxBadFraction: number;
  /** Use at most this many training samples (seeded subset); for quick experiments. */
  trainLimit?: number;
  /**
   * Precise batch norm: before each validation, re-estimate the BN moving statistics of the model
   * being validated / saved as best from this many un-augmented training batches (cumulative
   * average, Wu & Johnson 2021). Removes the lag of momentum-0.99 moving averages behind fast-moving
   * weights; 0 = off (validate with the trainer's moving averages). Checkpoints keep the trainer's
   * own statistics, so resuming is unaffected.
   */
  preciseBnBatches: number;
  /**
   * Knowledge distillation: a trained model (same labels) whose softened predictions are mixed into
   * the targets: target = (1 - distillWeight) * label target + distillWeight * softmax(teacher logits / T).
   * With the student's input size and channels the teacher sees each augmented batch; with another
   * input (e.g. a 64x64 RGB teacher for a 48x48 grey student) it predicts each training image once,
   * un-augmented, at its own input, and that prediction serves every epoch (no mixup then).
   */
  teacher?: string;
  distillWeight?: number;
  distillTemperature?: number;
  /**
   * Fine-tuning: start from the weights (batch-norm statistics included) of this trained model
   * instead of a random initialisation; it must have the architecture, input and classes of the run.
   */
  init?: string;
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'task' | 'data'> = {
  arch: 'mini-xception',
  inputSize: 48,
  channels: 1,
  epochs: 100,
  batchSize: 32,
  schedule: { name: 'plateau', lr: 1e-3, minLr: 1e-6, warmupEpochs: 0, factor: 0.1, patience: 12, stepEpochs: 30 },
  earlyStopping: 50,
  labelSmoothing: 0,
  classWeights: 'none',
  augment: PAPER_AUGMENT,
  mixup: 0,
  seed: 1337,
  valFraction: 0.1,
  testFraction: 0.1,
  cropMargin: 0,
  cacheMb: 1024,
  maxBadFraction: DEFAULT_MAX_BAD_FRACTION,
  preciseBnBatches: 32,
};

export interface RunControl {
  /** Stop (between batches) once this many minutes have passed in this session. */
  maxMinutes?: number;
  /** Show the progress bar (stderr, TTY only). */
  progress?: boolean;
  /** One line per event (epoch summaries, warnings); default: stderr. */
  log?: (line: string) => void;
  /** Trainer factory; default: the training engine's createTrainer. */
  createTrainer?: (config: TrainerConfig) => Promise<Trainer>;
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
  seconds: number;
  /** Validation per dataset when the run trains on several (valLoss / valAcc are then their mean). */
  valSources?: SourceScore[];
}

export type StopReason = 'completed' | 'early-stopping' | 'time-limit';

export interface TrainSummary {
  runDir: string;
  stopReason: StopReason;
  epochsDone: number;
  bestEpoch: number;
  bestValLoss: number;
  bestValAcc: number;
  history: EpochRecord[];
  skipped: { count: number; examples: Skipped[] };
  seconds: number;
}

interface CheckpointFile {
  version: 1;
  epoch: number;
  dir: string;
  lr: number;
  monitor: MonitorState;
  history: EpochRecord[];
  optimizer: { iterations: number; slotLengths: number[] };
  elapsedSeconds: number;
}

const CHECKPOINT_JSON = 'checkpoint.json';
const CONFIG_JSON = 'config.json';

export class TrainingDivergedError extends UserError {}

function stderrLog(line: string): void {
  process.stderr.write(line + '\n');
}

function ckptName(epoch: number): string {
  return `ckpt-${String(epoch).padStart(6, '0')}`;
}

export function modelMetaFor(o: TrainOptions, labels: string[], extra: Record<string, unknown> = {}): ModelMeta {
  return {
    task: o.task,
    labels,
    arch: o.arch,
    inputSize: o.inputSize,
    channels: o.channels,
    preprocessing: { colorSpace: o.channels === 1 ? 'grey' : 'rgb', range: [-1, 1] },
    cropMargin: o.cropMargin,
    ...extra,
  };
}

function csvLog(history: EpochRecord[], sourceNames: string[] = []): string {
  const perSource = sourceNames.length > 1 ? sourceNames.flatMap((n) => [`val_loss_${n}`, `val_accuracy_${n}`]) : [];
  const head = ['epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds', ...perSource].join(',');
  const row = (h: EpochRecord) => {
    const extra = perSource.length ? sourceNames.flatMap((n) => {
      const v = h.valSources?.find((x) => x.name === n);
      return [v?.loss ?? '', v?.acc ?? ''];
    }) : [];
    return [h.epoch, h.lr, h.loss, h.acc, h.valLoss, h.valAcc, h.seconds.toFixed(1), ...extra].join(',');
  };
  return [head, ...history.map(row)].join('\n') + '\n';
}

async function writePlots(runDir: string, history: EpochRecord[]): Promise<void> {
  const pts = (f: (h: EpochRecord) => number) => history.map((h) => [h.epoch, f(h)] as [number, number]);
  await writeChartPng(path.join(runDir, 'loss.png'), 'Loss (cross-entropy)', 'epoch', [
    { name: 'train', color: '#1f77b4', points: pts((h) => h.loss) },
    { name: 'validation', color: '#d62728', points: pts((h) => h.valLoss) },
  ]);
  await writeChartPng(path.join(runDir, 'accuracy.png'), 'Accuracy', 'epoch', [
    { name: 'train', color: '#1f77b4', points: pts((h) => h.acc) },
    { name: 'validation', color: '#d62728', points: pts((h) => h.valAcc) },
  ]);
}

function setModelWeights(model: tf.LayersModel, weights: Float32Array[]): void {
  if (weights.length !== model.weights.length) throw new Error(`expected ${model.weights.length} weight arrays, got ${weights.length}`);
  tf.tidy(() => model.setWeights(model.weights.map((w, i) => tf.tensor(weights[i], w.shape as number[]))));
}

/**
 * The store's samples in order, `size` at a time, decoded and prepared by preprocessFace at the store's
 * input: `x` packs the readable ones, `rows` are their store indices, `end` the index after the chunk.
 * Chunks with no readable sample are skipped.
 */
async function* preparedChunks(store: SampleStore, size: number): AsyncGenerator<{ x: Float32Array; rows: number[]; end: number }> {
  const { inputSize, channels } = store.opts;
  const per = inputSize * inputSize * channels;
  for (let start = 0; start < store.length; start += size) {
    const idx = Array.from({ length: Math.min(size, store.length - start) }, (_, j) => start + j);
    const imgs = await store.getMany(idx);
    const x = new Float32Array(idx.length * per);
    const rows: number[] = [];
    imgs.forEach((img, j) => {
      if (!img) return;
      preprocessFace(img, { inputSize, channels }, x, rows.length * per);
      rows.push(idx[j]);
    });
    if (rows.length) yield { x: x.subarray(0, rows.length * per), rows, end: start + idx.length };
  }
}

/** Mean cross-entropy and accuracy of `model` over the store (no augmentation). */
export async function validate(model: tf.LayersModel, store: SampleStore, batchSize = 64): Promise<{ loss: number; acc: number; n: number }> {
  const { inputSize, channels } = store.opts;
  const k = Number(model.outputs[0].shape[model.outputs[0].shape.length - 1]);
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  for await (const { x, rows } of preparedChunks(store, batchSize)) {
    const labels = rows.map((i) => store.samples[i].label);
    const m = labels.length;
    const probsT = tf.tidy(() => model.predict(tf.tensor4d(x, [m, inputSize, inputSize, channels])) as tf.Tensor);
    const probs = (await probsT.data()) as Float32Array;
    probsT.dispose();
    for (let r = 0; r < m; r++) {
      const row = probs.subarray(r * k, (r + 1) * k);
      lossSum -= Math.log(Math.min(1, Math.max(1e-7, row[labels[r]])));
      let best = 0;
      for (let j = 1; j < k; j++) if (row[j] > row[best]) best = j;
      if (best === labels[r]) correct++;
    }
    n += m;
  }
  return { loss: n ? lossSum / n : NaN, acc: n ? correct / n : NaN, n };
}

/**
 * Re-estimate every BatchNormalization layer's moving mean/variance as the average over `batches`
 * training-mode forward passes (momentum set to 1 - 1/k on pass k, so the moving value is the
 * running mean of the batch statistics).
 */
export async function preciseBatchNorm(model: tf.LayersModel, store: SampleStore, batches: number, batchSize: number, seed: number): Promise<void> {
  const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization') as unknown as Array<{ momentum: number }>;
  if (!bns.length || batches <= 0 || store.length === 0) return;
  const saved = bns.map((l) => l.momentum);
  const { inputSize, channels } = store.opts;
  const per = inputSize * inputSize * channels;
  const order = epochOrder(store.length, new Rng(seed));
  try {
    let k = 0;
    for (let start = 0; start < order.length && k < batches; start += batchSize) {
      const idx = order.slice(start, start + batchSize);
      const imgs = (await store.getMany(idx)).filter((i) => i !== undefined);
      if (imgs.length < 2) continue;
      const x = new Float32Array(imgs.length * per);
      imgs.forEach((img, j) => preprocessFace(img!, { inputSize, channels }, x, j * per));
      k++;
      for (const l of bns) l.momentum = 1 - 1 / k;
      tf.tidy(() => {
        model.apply(tf.tensor4d(x, [imgs.length, inputSize, inputSize, channels]), { training: true });
      });
    }
  } finally {
    bns.forEach((l, i) => (l.momentum = saved[i]));
  }
}

/** The seed that splits datasets without an official split. */
export function splitSeedOf(o: Pick<TrainOptions, 'seed' | 'splitSeed'>): number {
  return o.splitSeed ?? o.seed;
}

/** A teacher that sees every augmented batch (the student's input), or its predictions per training sample (another input). */
type Teacher = { runtime: InferenceRuntime; perSample?: undefined } | { runtime?: undefined; perSample: Float32Array };

async function openTeacher(o: TrainOptions, labels: string[], store: SampleStore, progress: boolean, log: (line: string) => void): Promise<Teacher> {
  const t = await createRuntime(o.teacher!, { backend: o.backend });
  let kept = false;
  try {
    const m = t.meta;
    if (m.labels.join() !== labels.join()) throw new UserError(`teacher model "${o.teacher}": labels ${m.labels.join(', ')} differ from the dataset's ${labels.join(', ')}`);
    if (m.inputSize === o.inputSize && m.channels === o.channels) {
      kept = true;
      return { runtime: t };
    }
    if (o.mixup > 0) {
      throw new UserError(
        `teacher model "${o.teacher}": its input ${m.inputSize}x${m.inputSize}x${m.channels} differs from the student's ${o.inputSize}x${o.inputSize}x${o.channels}, ` +
          'so it predicts each training image once, which mixed-up images cannot use: pass --mixup 0 or a teacher with the student\'s input',
      );
    }
    const perSample = await teacherPerSample(t, store, progress);
    log(`teacher ${o.teacher} (${m.inputSize}x${m.inputSize}x${m.channels}, TTA ${t.tta}): input differs from the student's, so its predictions on the ${store.length} un-augmented training images serve every epoch`);
    return { perSample };
  } finally {
    // The per-sample teacher is done after its one pass.
    if (!kept) await t.dispose();
  }
}

/**
 * The teacher's probabilities for every sample of `store`, each image un-augmented and prepared at the
 * teacher's own input (size, channels, crop margin) by the same preprocessFace; the teacher's TTA
 * applies. Row i belongs to store sample i; rows of unreadable samples stay NaN (they never reach a batch).
 */
export async function teacherPerSample(teacher: InferenceRuntime, store: SampleStore, progress = false): Promise<Float32Array> {
  const { inputSize, labels, cropMargin } = teacher.meta;
  const channels = teacher.meta.channels === 3 ? 3 : 1;
  const k = labels.length;
  const view = new SampleStore(store.samples, { inputSize, channels, cropMargin: cropMargin ?? 0, cacheBytes: 0 });
  const out = new Float32Array(store.length * k).fill(NaN);
  const bar = countProgress('teacher predictions', store.length, progress);
  for await (const { x, rows, end } of preparedChunks(view, 64)) {
    const p = await teacher.run(x, rows.length);
    rows.forEach((i, r) => out.set(p.subarray(r * k, (r + 1) * k), i * k));
    bar.update(end);
  }
  bar.stop();
  return out;
}

/**
 * Start `model` from a trained model's weights (--init): the same architecture; other labels, another input
 * size or the other colour mode are adapted (see planInit). Mismatches are UserErrors naming the model.
 */
async function initFrom(model: tf.LayersModel, o: TrainOptions, labels: string[], log: (line: string) => void): Promise<void> {
  const src = await loadModel(o.init!);
  try {
    const m = src.meta;
    if (m.arch !== undefined && m.arch !== o.arch) throw new UserError(`--init model "${o.init}": architecture ${m.arch} differs from the run's ${o.arch}`);
    const plan = planInit(src.model, model, m.labels.join() !== labels.join());
    if (typeof plan === 'string') {
      throw new UserError(`--init model "${o.init}" (${m.inputSize}x${m.inputSize}x${m.channels}, ${m.labels.length} classes) cannot start this ${o.inputSize}x${o.inputSize}x${o.channels} ${o.arch} run: ${plan}`);
    }
    model.setWeights(plan.weights);
    tf.dispose(plan.created);
    const what = plan.adaptations.length > 0 ? `adapted: ${plan.adaptations.join('; ')}` : 'copied as they are';
    log(`--init ${o.init} (${m.labels.join(', ')}; ${m.inputSize}x${m.inputSize}x${m.channels}): weights ${what}`);
  } finally {
    src.model.dispose();
  }
}

/**
 * Mix the teacher's softened predictions on the (augmented, possibly mixed-up) batch into the
 * targets, in place. p^(1/T) renormalised equals softmax(logits / T). The teacher part is scaled by
 * the row's total target weight so class weights keep their effect.
 */
export async function distillTargets(teacher: InferenceRuntime, x: Float32Array, y: Float32Array, n: number, k: number, weight: number, temperature: number): Promise<void> {
  mixTeacherTargets(await teacher.run(x, n), y, n, k, weight, temperature);
}

/** distillTargets with the teacher's probabilities `p` (row r for target row r) already at hand. */
export function mixTeacherTargets(p: Float32Array, y: Float32Array, n: number, k: number, weight: number, temperature: number): void {
  for (let r = 0; r < n; r++) {
    let z = 0;
    const q = new Float64Array(k);
    for (let j = 0; j < k; j++) z += q[j] = Math.pow(Math.max(p[r * k + j], 1e-12), 1 / temperature);
    let rowWeight = 0;
    for (let j = 0; j < k; j++) rowWeight += y[r * k + j];
    for (let j = 0; j < k; j++) y[r * k + j] = (1 - weight) * y[r * k + j] + weight * rowWeight * (q[j] / z);
  }
}

function checkBad(stores: SampleStore[], maxFraction: number): void {
  const bad = stores.reduce((a, s) => a + s.bad.size, 0);
  const total = stores.reduce((a, s) => a + s.length, 0);
  if (bad > maxFraction * total) {
    const ex = stores.flatMap((s) => s.skipped()).slice(0, 3).map((s) => `${s.id}: ${s.reason}`).join('; ');
    throw new UserError(`${bad} of ${total} images are unreadable (more than ${(maxFraction * 100).toFixed(1)}%, see --max-bad-fraction): ${ex}`);
  }
}

function resolveClassWeights(o: TrainOptions, counts: number[]): number[] | undefined {
  if (o.classWeights === 'none') return undefined;
  if (o.classWeights === 'balanced') return balancedClassWeights(counts);
  if (o.classWeights.length !== counts.length) throw new UserError(`--class-weights lists ${o.classWeights.length} weights for ${counts.length} classes`);
  return o.classWeights;
}

/** Keep only the first `limit` samples of a seeded shuffle (stratification is not attempted). */
function limitSamples<T>(items: T[], limit: number | undefined, seed: number): T[] {
  if (limit === undefined || limit >= items.length) return items;
  const order = epochOrder(items.length, new Rng(deriveSeed(seed, 0x11a17)));
  return order.slice(0, limit).sort((a, b) => a - b).map((i) => items[i]);
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new UserError(`cannot read "${file}": ${(err as Error).message}`);
  }
}

/** Replace `dst` folder with `src` folder (rename-based; a crash leaves either the old or the new one). */
function swapDir(src: string, dst: string): void {
  const old = `${dst}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dst)) fs.renameSync(dst, old);
  fs.renameSync(src, dst);
  fs.rmSync(old, { recursive: true, force: true });
}

export const SESSIONS_JSONL = 'sessions.jsonl';

export interface TrainSession {
  started: string;
  resumed: boolean;
  /** Epochs already complete when this session started. */
  fromEpoch: number;
  workers: number | null;
  backend: string;
}

/** One line per process that trained the run (new or --resume), so a shipped card can say how it was made. */
function appendSession(runDir: string, s: TrainSession): void {
  fs.appendFileSync(path.join(runDir, SESSIONS_JSONL), JSON.stringify(s) + '\n');
}

/** The sessions recorded for a run; lines that do not parse (e.g. cut by a crash) are skipped. */
export function readSessions(runDir: string): TrainSession[] {
  const file = path.join(runDir, SESSIONS_JSONL);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        const v = JSON.parse(line) as TrainSession;
        return v && typeof v.started === 'string' ? [v] : [];
      } catch {
        return [];
      }
    });
}

/** Start a new run in `runDir` (must be empty or absent). */
export async function train(options: TrainOptions, runDir: string, control: RunControl = {}): Promise<TrainSummary> {
  if (fs.existsSync(path.join(runDir, CONFIG_JSON))) {
    throw new UserError(`run directory "${runDir}" already holds a run: continue it with --resume ${runDir}, or choose another --out`);
  }
  fs.mkdirSync(runDir, { recursive: true });
  return run(options, runDir, undefined, control);
}

/** Continue the run in `runDir` from its last complete checkpoint. `epochs` may extend the run. */
export async function resumeTraining(runDir: string, overrides: { epochs?: number; workers?: number; backend?: string } = {}, control: RunControl = {}): Promise<TrainSummary> {
  const cfgFile = path.join(runDir, CONFIG_JSON);
  if (!fs.existsSync(cfgFile)) throw new UserError(`"${runDir}" is not a training run directory (no ${CONFIG_JSON})`);
  const { options } = readJson<{ options: TrainOptions }>(cfgFile);
  const merged: TrainOptions = { ...options };
  if (overrides.epochs !== undefined) merged.epochs = overrides.epochs;
  if (overrides.workers !== undefined) merged.workers = overrides.workers;
  if (overrides.backend !== undefined) merged.backend = overrides.backend;
  if (merged.epochs !== options.epochs) writeFileAtomic(cfgFile, JSON.stringify({ version: 1, options: merged }, null, 2) + '\n');
  const ckFile = path.join(runDir, CHECKPOINT_JSON);
  const ck = fs.existsSync(ckFile) ? readJson<CheckpointFile>(ckFile) : undefined;
  if (ck && !fs.existsSync(path.join(runDir, ck.dir))) throw new UserError(`checkpoint folder "${ck.dir}" named by ${ckFile} is missing`);
  // A crash during swapDir can leave only best.old: restore it.
  const best = path.join(runDir, 'best');
  if (!fs.existsSync(best) && fs.existsSync(`${best}.old`)) fs.renameSync(`${best}.old`, best);
  return run(merged, runDir, ck, control);
}

async function run(o: TrainOptions, runDir: string, ck: CheckpointFile | undefined, control: RunControl): Promise<TrainSummary> {
  const log = control.log ?? stderrLog;
  const t0 = Date.now();
  const deadline = control.maxMinutes !== undefined ? t0 + control.maxMinutes * 60_000 : Infinity;
  const backend = await setupBackend(o.backend);

  const loaded = await loadSources(dataSources(o), o.task, { seed: splitSeedOf(o), val: o.valFraction, test: o.testFraction });
  const multi = loaded.length > 1;
  const ds: Dataset = combineSources(loaded);
  // --train-limit applies per dataset.
  const trainParts = loaded.map((s) => limitSamples(s.ds.splits.train, o.trainLimit, o.seed));
  const trainSamples = trainParts.flat();
  const ranges = sourceRanges(trainParts);
  for (const [i, s] of loaded.entries()) {
    if (trainParts[i].length === 0 && s.spec.weight > 0) throw new UserError(`dataset "${s.spec.path}" has no training samples`);
    if (s.ds.splits.val.length === 0) throw new UserError(`dataset "${s.spec.path}" has no validation samples (needed to select the best model; the test split is never used for that)`);
  }
  const splitFile = path.join(runDir, 'split.json');
  const splitRecord = multi
    ? {
        sources: loaded.map((s) => ({ name: s.name, weight: s.spec.weight, format: s.ds.format, root: s.ds.root, ...s.ds.split, skippedAtLoad: s.ds.skipped.length, filtered: s.ds.filtered })),
        counts: ds.split.counts,
        trainLimit: o.trainLimit,
      }
    : { format: ds.format, root: ds.root, ...ds.split, trainLimit: o.trainLimit, skippedAtLoad: ds.skipped.length, filtered: ds.filtered };
  if (ck && fs.existsSync(splitFile)) {
    const prev = readJson<{ counts: Record<string, number> }>(splitFile);
    if (JSON.stringify(prev.counts) !== JSON.stringify(ds.split.counts)) {
      throw new UserError(`the dataset at "${o.data}" no longer matches the run's split.json (counts ${JSON.stringify(prev.counts)} then, ${JSON.stringify(ds.split.counts)} now)`);
    }
  } else {
    writeFileAtomic(splitFile, JSON.stringify(splitRecord) + '\n');
  }
  const totalIndexed = ds.splits.train.length + ds.splits.val.length + ds.splits.test.length + ds.skipped.length;
  if (ds.skipped.length > o.maxBadFraction * totalIndexed) {
    const ex = ds.skipped.slice(0, 3).map((s) => `${s.id}: ${s.reason}`).join('; ');
    throw new UserError(`${ds.skipped.length} of ${totalIndexed} entries of "${o.data}" are malformed (more than ${(o.maxBadFraction * 100).toFixed(1)}%, see --max-bad-fraction): ${ex}`);
  }
  // A new run becomes resumable (config.json) only once its data has loaded: a typo in --data leaves no half-made run behind.
  if (!ck && !fs.existsSync(path.join(runDir, CONFIG_JSON))) writeFileAtomic(path.join(runDir, CONFIG_JSON), JSON.stringify({ version: 1, options: o }, null, 2) + '\n');
  if (ds.skipped.length) log(`skipped ${ds.skipped.length} malformed entries while indexing (e.g. ${ds.skipped[0].id}: ${ds.skipped[0].reason})`);

  const numClasses = ds.labels.length;
  const budget = o.cacheMb * 1024 * 1024;
  const trainStore = new SampleStore(trainSamples, { inputSize: o.inputSize, channels: o.channels, cropMargin: o.cropMargin, cacheBytes: budget });
  let valBudget = Math.max(0, budget - trainStore.cachedBytes);
  const valStores = loaded.map((s) => {
    const store = new SampleStore(s.ds.splits.val, { inputSize: o.inputSize, channels: o.channels, cropMargin: o.cropMargin, cacheBytes: valBudget });
    valBudget = Math.max(0, valBudget - store.cachedBytes);
    return store;
  });
  const sum = (f: (st: SampleStore) => number) => valStores.reduce((a, st) => a + f(st), 0);
  for (const [i, s] of loaded.entries()) {
    log(`data: ${s.ds.format} ${s.spec.path}${multi ? ` (${s.name}, weight ${s.spec.weight})` : ''}: train ${trainParts[i].length}, val ${s.ds.splits.val.length} (test ${s.ds.splits.test.length}, not used)`);
  }
  log(
    `cache ${((trainStore.cachedBytes + sum((st) => st.cachedBytes)) / 1048576).toFixed(0)} MB for ${trainStore.cachedCount + sum((st) => st.cachedCount)} samples, ` +
      `${trainStore.length - trainStore.cachedCount + sum((st) => st.length - st.cachedCount)} streamed; backend ${backend}`,
  );
  const loading = countProgress('loading images', trainStore.cachedCount + sum((st) => st.cachedCount), control.progress ?? true);
  await trainStore.warm((done) => loading.update(done));
  let warmed = trainStore.cachedCount;
  for (const st of valStores) {
    await st.warm((done) => loading.update(warmed + done));
    warmed += st.cachedCount;
  }
  loading.stop();
  checkBad([trainStore, ...valStores], o.maxBadFraction);
  const counts = labelCounts(trainSamples, numClasses);
  const classWeights = resolveClassWeights(o, counts);

  const teacher = o.teacher ? await openTeacher(o, ds.labels, trainStore, control.progress ?? true, log) : undefined;
  const meta = modelMetaFor(o, ds.labels);
  let model: tf.LayersModel;
  let start = 0;
  let monitor: MonitorState;
  let history: EpochRecord[] = [];
  let elapsedBefore = 0;
  let optState: { iterations: number; slots: Float32Array[] } | undefined;
  if (ck) {
    model = (await loadModel(path.join(runDir, ck.dir))).model;
    start = ck.epoch;
    monitor = ck.monitor;
    history = ck.history;
    elapsedBefore = ck.elapsedSeconds;
    const buf = fs.readFileSync(path.join(runDir, ck.dir, 'optimizer.bin'));
    const expected = ck.optimizer.slotLengths.reduce((a, b) => a + b, 0) * 4;
    if (buf.byteLength !== expected) throw new UserError(`checkpoint "${path.join(runDir, ck.dir, 'optimizer.bin')}" has ${buf.byteLength} bytes, expected ${expected}`);
    // Copy: a pooled Buffer need not be 4-byte aligned.
    const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    let off = 0;
    optState = { iterations: ck.optimizer.iterations, slots: ck.optimizer.slotLengths.map((len) => all.slice(off, (off += len))) };
    log(`resuming ${runDir} after epoch ${start} (lr ${ck.lr}, best val loss ${monitor.bestValLoss.toFixed(4)} at epoch ${monitor.bestEpoch})`);
  } else {
    model = buildModel(o.arch, { inputSize: o.inputSize, channels: o.channels, numClasses, ...(o.l2 !== undefined ? { l2: o.l2 } : {}) });
    if (o.init) await initFrom(model, o, ds.labels, log);
    monitor = initialMonitor(o.schedule.lr);
  }
  const schedule: ScheduleConfig = { ...o.schedule, epochs: o.epochs };
  const sourceNames = loaded.map((s) => s.name);
  writeFileAtomic(path.join(runDir, 'log.csv'), csvLog(history, sourceNames));
  appendSession(runDir, { started: new Date(t0).toISOString(), resumed: Boolean(ck), fromEpoch: start, workers: o.workers ?? null, backend });

  let trainer: Trainer | undefined;
  let stopReason: StopReason = 'completed';
  try {
    trainer = await (control.createTrainer ?? createTrainer)({
      modelTopology: JSON.parse(JSON.stringify(model.toJSON(null, false))) as object,
      weights: model.weights.map((w) => w.read().dataSync().slice() as Float32Array),
      optimizer: { name: 'adam', learningRate: o.schedule.lr },
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      backend: backend,
    });
    if (optState) await trainer.setOptimizerState(optState);

    let lastEpochSeconds = history.length ? history[history.length - 1].seconds : 0;
    for (let epoch = start + 1; epoch <= o.epochs; epoch++) {
      if (Date.now() + lastEpochSeconds * 1000 > deadline) {
        stopReason = 'time-limit';
        break;
      }
      if (o.earlyStopping > 0 && monitor.sinceBest >= o.earlyStopping) {
        stopReason = 'early-stopping';
        break;
      }
      const lr = lrForEpoch(schedule, monitor, epoch);
      trainer.setLearningRate(lr);
      const te = Date.now();
      const order = multi
        ? weightedEpochOrder(ranges, loaded.map((s) => s.spec.weight), new Rng(deriveSeed(o.seed, epoch)))
        : epochOrder(trainStore.length, new Rng(deriveSeed(o.seed, epoch)));
      const rng = new Rng(deriveSeed(o.seed, epoch, 1));
      const nBatches = Math.ceil(order.length / o.batchSize);
      const bar = epochProgress(epoch, o.epochs, nBatches, control.progress ?? true);
      let lossSum = 0;
      let accSum = 0;
      let seen = 0;
      let b = 0;
      let timedOut = false;
      const batches = makeBatches(trainStore, order, { batchSize: o.batchSize, numClasses, augment: o.augment, mixup: o.mixup, labelSmoothing: o.labelSmoothing, classWeights }, rng)[
        Symbol.asyncIterator
      ]();
      const prepare = async () => {
        const next = await batches.next();
        if (!next.done && teacher) {
          const { x, y, n, indices } = next.value;
          const [w, t] = [o.distillWeight ?? 0.5, o.distillTemperature ?? 2];
          if (teacher.perSample) {
            const p = new Float32Array(n * numClasses);
            indices.forEach((i, r) => p.set(teacher.perSample.subarray(i * numClasses, (i + 1) * numClasses), r * numClasses));
            mixTeacherTargets(p, y, n, numClasses, w, t);
          } else {
            await distillTargets(teacher.runtime, x, y, n, numClasses, w, t);
          }
        }
        return next;
      };
      let pending = prepare();
      for (;;) {
        const next = await pending;
        if (next.done) break;
        const batch = next.value;
        const step = trainer.trainStep(batch.x, batch.y, batch.n);
        // Augment the next batch on this thread while the workers run this step (the step's messages
        // are posted first: setImmediate runs after the microtask that posts them).
        pending = new Promise<void>((resolve) => setImmediate(resolve)).then(prepare);
        pending.catch(() => undefined);
        const r = await step;
        b++;
        if (!Number.isFinite(r.loss) || !Number.isFinite(r.regularizationLoss)) {
          bar.stop();
          const kept = start > 0 || history.length ? `the last good checkpoint (epoch ${history.length ? history[history.length - 1].epoch : start}) is kept in ${runDir}` : 'no epoch had completed, so there is no checkpoint';
          throw new TrainingDivergedError(`training diverged: the loss became ${r.loss} at epoch ${epoch}, batch ${b}; ${kept}. Lower the learning rate (--lr) or check the data`);
        }
        lossSum += r.loss * batch.n;
        accSum += r.accuracy * batch.n;
        seen += batch.n;
        bar.update(b, lossSum / seen, accSum / seen);
        if (Date.now() > deadline) {
          timedOut = true;
          break;
        }
      }
      bar.stop();
      if (timedOut) {
        stopReason = 'time-limit';
        log(`--max-minutes reached during epoch ${epoch}; that partial epoch is discarded, the checkpoint of epoch ${epoch - 1} stands`);
        break;
      }
      checkBad([trainStore, ...valStores], o.maxBadFraction);
      const trainSeconds = (Date.now() - te) / 1000;
      const weights = await trainer.getWeights();
      setModelWeights(model, weights);
      await preciseBatchNorm(model, trainStore, o.preciseBnBatches, Math.max(o.batchSize, 32), deriveSeed(o.seed, epoch, 2));
      const valSources: SourceScore[] = [];
      for (const [i, st] of valStores.entries()) valSources.push({ name: loaded[i].name, ...(await validate(model, st)) });
      const val = multi ? combineScores(valSources) : valSources[0];
      if (!Number.isFinite(val.loss)) {
        throw new TrainingDivergedError(`training diverged: validation loss is ${val.loss} after epoch ${epoch}; the last good checkpoint (epoch ${epoch - 1}) is kept in ${runDir}`);
      }
      const seconds = (Date.now() - te) / 1000;
      lastEpochSeconds = seconds;
      const rec: EpochRecord = { epoch, lr, loss: lossSum / seen, acc: accSum / seen, valLoss: val.loss, valAcc: val.acc, seconds, ...(multi ? { valSources } : {}) };
      history.push(rec);
      const { improved, reducedLr } = observe(monitor, epoch, val.loss, schedule);
      if (improved) {
        const tmp = path.join(runDir, 'best.tmp');
        fs.rmSync(tmp, { recursive: true, force: true });
        await saveModel(model, tmp, { ...meta, training: { epoch, valLoss: val.loss, valAccuracy: val.acc, dataset: ds.format, ...(multi ? { sources: valSources.map((v, i) => ({ ...v, path: loaded[i].spec.path, weight: loaded[i].spec.weight })) } : {}), split: ds.split.method, splitSeed: splitSeedOf(o), valFraction: o.valFraction, testFraction: o.testFraction } });
        swapDir(tmp, path.join(runDir, 'best'));
      }
      if (o.preciseBnBatches > 0) setModelWeights(model, weights);
      // Checkpoint: folder first, then the pointer (atomic rename), then old folders go.
      const opt = await trainer.getOptimizerState();
      const name = ckptName(epoch);
      const dir = path.join(runDir, name);
      fs.rmSync(dir, { recursive: true, force: true });
      await saveModel(model, dir, { ...meta, training: { epoch } });
      const bytes = opt.slots.reduce((a, s) => a + s.length, 0);
      const all = new Float32Array(bytes);
      let off = 0;
      for (const s of opt.slots) {
        all.set(s, off);
        off += s.length;
      }
      writeFileAtomic(path.join(dir, 'optimizer.bin'), new Uint8Array(all.buffer));
      const ckf: CheckpointFile = {
        version: 1,
        epoch,
        dir: name,
        lr,
        monitor,
        history,
        optimizer: { iterations: opt.iterations, slotLengths: opt.slots.map((s) => s.length) },
        elapsedSeconds: elapsedBefore + (Date.now() - t0) / 1000,
      };
      writeFileAtomic(path.join(runDir, CHECKPOINT_JSON), JSON.stringify(ckf) + '\n');
      for (const f of fs.readdirSync(runDir)) if (/^ckpt-\d+$/.test(f) && f !== name) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
      writeFileAtomic(path.join(runDir, 'log.csv'), csvLog(history, sourceNames));
      await writePlots(runDir, history);
      log(
        `epoch ${epoch}/${o.epochs}: loss ${rec.loss.toFixed(4)} acc ${rec.acc.toFixed(4)} | val loss ${val.loss.toFixed(4)} acc ${val.acc.toFixed(4)} | lr ${lr.toPrecision(3)} | ${fmtDuration(seconds)} (train ${fmtDuration(trainSeconds)}, ${((trainSeconds * 1000) / Math.max(1, b)).toFixed(0)} ms/batch)` +
          (multi ? ` | ${valSources.map((v) => `${v.name} ${v.loss.toFixed(4)} / ${v.acc.toFixed(4)}`).join(', ')}` : '') +
          (improved ? ' | best' : '') +
          (reducedLr ? ` | lr -> ${monitor.plateauLr.toPrecision(3)}` : ''),
      );
    }
  } finally {
    await trainer?.dispose();
    await teacher?.runtime?.dispose();
    model.dispose();
  }
  if (stopReason === 'completed' && o.earlyStopping > 0 && monitor.sinceBest >= o.earlyStopping && history.length && history[history.length - 1].epoch < o.epochs) stopReason = 'early-stopping';
  const bestRec = history.find((h) => h.epoch === monitor.bestEpoch);
  const skipped = [...ds.skipped, ...trainStore.skipped(), ...valStores.flatMap((st) => st.skipped())];
  const summary: TrainSummary = {
    runDir,
    stopReason,
    epochsDone: history.length ? history[history.length - 1].epoch : 0,
    bestEpoch: monitor.bestEpoch,
    bestValLoss: monitor.bestValLoss,
    bestValAcc: bestRec?.valAcc ?? NaN,
    history,
    skipped: { count: skipped.length, examples: skipped.slice(0, 20) },
    seconds: elapsedBefore + (Date.now() - t0) / 1000,
  };
  writeFileAtomic(path.join(runDir, 'training.json'), JSON.stringify({ ...summary, history: undefined }, null, 2) + '\n');
  if (skipped.length) log(`skipped ${skipped.length} inputs in total (details in ${path.join(runDir, 'training.json')})`);
  return summary;
}
