/**
 * What a training run is given (TrainOptions, stored in config.json), what it records per epoch
 * (EpochRecord, a row of log.csv) and what it returns (TrainSummary, training.json).
 */
import type { ModelMeta, Task } from '../io/model-store.js';
import type { DatasetFormat, Skipped } from '../data/dataset.js';
import { DEFAULT_AGE_CODEC, type AgeCodec } from '../data/age.js';
import { DEFAULT_MAX_BAD_FRACTION } from '../data/store.js';
import { PAPER_AUGMENT, type AugmentOptions } from './augment.js';
import type { SelectionMetricName } from './best-model.js';
import type { ScheduleConfig } from './schedule.js';
import type { DataSource, SourceScore } from './sources.js';

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
  /** Stop after this many epochs without improvement of the selection metric; 0 = never (paper: 50). */
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
  /**
   * The validation metric that picks the best epoch (best/), drives early stopping and the plateau
   * schedule; absent = 'val_loss' (src/train/best-model.ts lists the metrics and their directions).
   */
  selectBy?: SelectionMetricName;
  /** Task 'age': the anchors and target noise (src/data/age.ts); stored in the model's metadata. */
  age?: AgeCodec;
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
  /** Age runs: mean absolute error (years) of the expected age on the validation split. */
  valMae?: number;
}

export type StopReason = 'completed' | 'early-stopping' | 'time-limit';

export interface TrainSummary {
  runDir: string;
  stopReason: StopReason;
  epochsDone: number;
  bestEpoch: number;
  bestValLoss: number;
  bestValAcc: number;
  /** Age runs: the best epoch's validation MAE (years). */
  bestValMae?: number;
  history: EpochRecord[];
  skipped: { count: number; examples: Skipped[] };
  seconds: number;
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
    ...(o.task === 'age' ? { age: ageCodecOf(o) } : {}),
    ...extra,
  };
}

/** The age codec of a run (its own, or the default anchors). */
export function ageCodecOf(o: Pick<TrainOptions, 'age'>): AgeCodec {
  return o.age ?? DEFAULT_AGE_CODEC;
}

/** The seed that splits datasets without an official split. */
export function splitSeedOf(o: Pick<TrainOptions, 'seed' | 'splitSeed'>): number {
  return o.splitSeed ?? o.seed;
}
