/**
 * The training pipeline behind `facecls train`: dataset -> SampleStore (bounded cache) ->
 * augmented batches -> Trainer (src/engine) -> per-epoch validation, the best model by the selection
 * metric (validation loss unless the run says otherwise), schedules, stop rules, atomic checkpoints,
 * CSV log and PNG curves in a run directory. Each concern is its own unit, called from the epoch loop
 * the way Keras calls its callbacks:
 *   run-data.ts    datasets, split.json, sample stores, epoch order
 *   checkpoint.ts  config.json, ckpt-NNNNNN/ (model + optimizer.bin), checkpoint.json
 *   best-model.ts  best/ by the selection metric
 *   stop-rules.ts  divergence, early stopping, time limit
 *   distill.ts     the teacher's soft targets
 *   run-log.ts     log.csv, loss.png / accuracy.png, sessions.jsonl, training.json
 * Validation is the dataset's val split (FER-2013 PublicTest); the test split is never read here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../engine/backend.js';
import { createTrainer } from '../engine/trainer.js';
import type { OptimizerState, Trainer, TrainerConfig } from '../engine/trainer-types.js';
import { UserError } from '../errors.js';
import { buildModel } from '../framework/zoo.js';
import type { ModelMeta } from '../io/model-store.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { makeBatches, type Batch } from './batches.js';
import { restoreBest, saveBest, selectionMetric, type SelectionMetric } from './best-model.js';
import { CONFIG_JSON, loadCheckpoint, readCheckpoint, readRunConfig, saveCheckpoint, writeRunConfig, type CheckpointFile } from './checkpoint.js';
import { openTeacher, teachBatch, type Teacher } from './distill.js';
import { initFrom } from './init-weights.js';
import { modelMetaFor, splitSeedOf, type EpochRecord, type StopReason, type TrainOptions, type TrainSummary } from './options.js';
import { epochProgress } from './progress.js';
import { checkBad, loadRunData, orderForEpoch, skippedInputs, type RunData } from './run-data.js';
import { appendSession, epochLine, writeEpochLogs, writeLogCsv, writeTrainingJson } from './run-log.js';
import { initialMonitor, lrForEpoch, observe, type MonitorState, type ScheduleConfig } from './schedule.js';
import { combineScores, type SourceScore } from './sources.js';
import { checkStep, checkValidation, finalStopReason, stopBeforeEpoch } from './stop-rules.js';
import { preciseBatchNorm, setModelWeights, validate } from './validate.js';

export { DEFAULT_TRAIN_OPTIONS, modelMetaFor, splitSeedOf, type EpochRecord, type StopReason, type TrainOptions, type TrainSummary } from './options.js';
export { TrainingDivergedError } from './stop-rules.js';
export { distillTargets, mixTeacherTargets, teacherPerSample } from './distill.js';
export { preciseBatchNorm, validate } from './validate.js';
export { readSessions, SESSIONS_JSONL, type TrainSession } from './run-log.js';

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

function stderrLog(line: string): void {
  process.stderr.write(line + '\n');
}

/** Start a new run in `runDir` (must be empty or absent). */
export async function train(options: TrainOptions, runDir: string, control: RunControl = {}): Promise<TrainSummary> {
  if (fs.existsSync(path.join(runDir, CONFIG_JSON))) {
    throw new UserError(`run directory "${runDir}" already holds a run`, { reason: 'run-exists' });
  }
  fs.mkdirSync(runDir, { recursive: true });
  return run(options, runDir, undefined, control);
}

/** Continue the run in `runDir` from its last complete checkpoint. `epochs` may extend the run. */
export async function resumeTraining(
  runDir: string,
  overrides: { epochs?: number; workers?: number; backend?: string } = {},
  control: RunControl = {},
): Promise<TrainSummary> {
  const options = readRunConfig(runDir);
  const merged: TrainOptions = { ...options };
  if (overrides.epochs !== undefined) merged.epochs = overrides.epochs;
  if (overrides.workers !== undefined) merged.workers = overrides.workers;
  if (overrides.backend !== undefined) merged.backend = overrides.backend;
  if (merged.epochs !== options.epochs) writeRunConfig(runDir, merged);
  const ck = readCheckpoint(runDir);
  restoreBest(runDir);
  return run(merged, runDir, ck, control);
}

/** Where a run (re)starts: a fresh or --init model, or a checkpoint's model, optimizer and history. */
interface Start {
  model: tf.LayersModel;
  epoch: number;
  monitor: MonitorState;
  history: EpochRecord[];
  elapsedBefore: number;
  optimizer?: OptimizerState;
}

/** Everything the epoch loop reads and updates. */
interface Session extends Start {
  o: TrainOptions;
  runDir: string;
  log: (line: string) => void;
  progress: boolean;
  t0: number;
  deadline: number;
  data: RunData;
  teacher?: Teacher;
  trainer: Trainer;
  meta: ModelMeta;
  schedule: ScheduleConfig;
  metric: SelectionMetric;
}

async function run(o: TrainOptions, runDir: string, ck: CheckpointFile | undefined, control: RunControl): Promise<TrainSummary> {
  const log = control.log ?? stderrLog;
  const progress = control.progress ?? true;
  const t0 = Date.now();
  const deadline = control.maxMinutes !== undefined ? t0 + control.maxMinutes * 60_000 : Infinity;
  const metric = selectionMetric(o.selectBy);
  const backend = await setupBackend(o.backend);
  const data = await loadRunData(o, runDir, Boolean(ck), backend, progress, log);
  const teacher = o.teacher ? await openTeacher(o, data.ds.labels, data.trainStore, progress, log) : undefined;
  const start = await startFrom(o, runDir, ck, data, metric, log);
  writeLogCsv(runDir, start.history, data.sourceNames);
  appendSession(runDir, { started: new Date(t0).toISOString(), resumed: Boolean(ck), fromEpoch: start.epoch, workers: o.workers ?? null, backend });
  let trainer: Trainer | undefined;
  let loopReason: StopReason;
  try {
    trainer = await (control.createTrainer ?? createTrainer)({
      modelTopology: JSON.parse(JSON.stringify(start.model.toJSON(null, false))) as object,
      weights: start.model.weights.map((w) => w.read().dataSync().slice() as Float32Array),
      optimizer: { name: 'adam', learningRate: o.schedule.lr },
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      backend,
    });
    if (start.optimizer) await trainer.setOptimizerState(start.optimizer);
    const meta = modelMetaFor(o, data.ds.labels);
    const schedule = { ...o.schedule, epochs: o.epochs };
    loopReason = await epochLoop({ ...start, o, runDir, log, progress, t0, deadline, data, teacher, trainer, meta, schedule, metric });
  } finally {
    await trainer?.dispose();
    await teacher?.runtime?.dispose();
    start.model.dispose();
  }
  return finish(o, runDir, data, start, loopReason, log, t0);
}

async function startFrom(
  o: TrainOptions,
  runDir: string,
  ck: CheckpointFile | undefined,
  data: RunData,
  metric: SelectionMetric,
  log: (line: string) => void,
): Promise<Start> {
  if (ck) {
    const { model, optimizer } = await loadCheckpoint(runDir, ck);
    log(`resuming ${runDir} after epoch ${ck.epoch} (lr ${ck.lr}, best ${metric.label} ${ck.monitor.bestValLoss.toFixed(4)} at epoch ${ck.monitor.bestEpoch})`);
    return { model, epoch: ck.epoch, monitor: ck.monitor, history: ck.history, elapsedBefore: ck.elapsedSeconds, optimizer };
  }
  const model = buildModel(o.arch, { inputSize: o.inputSize, channels: o.channels, numClasses: data.numClasses, ...(o.l2 !== undefined ? { l2: o.l2 } : {}) });
  if (o.init) await initFrom(model, o, data.ds.labels, log);
  return { model, epoch: 0, monitor: initialMonitor(o.schedule.lr, metric), history: [], elapsedBefore: 0 };
}

/** The epochs from the start to the planned last one; returns why the loop ended. */
async function epochLoop(s: Session): Promise<StopReason> {
  const { o, data, history } = s;
  let lastEpochSeconds = history.length ? history[history.length - 1].seconds : 0;
  for (let epoch = s.epoch + 1; epoch <= o.epochs; epoch++) {
    const stop = stopBeforeEpoch(Date.now(), lastEpochSeconds, s.deadline, s.monitor, o.earlyStopping);
    if (stop) return stop;
    const lr = lrForEpoch(s.schedule, s.monitor, epoch);
    const te = Date.now();
    const fit = await fitEpoch(s, epoch, lr);
    if (fit.timedOut) {
      s.log(`--max-minutes reached during epoch ${epoch}; that partial epoch is discarded, the checkpoint of epoch ${epoch - 1} stands`);
      return 'time-limit';
    }
    checkBad([data.trainStore, ...data.valStores], o.maxBadFraction);
    const trainSeconds = (Date.now() - te) / 1000;
    const { val, valSources, weights } = await validateEpoch(s, epoch);
    const seconds = (Date.now() - te) / 1000;
    lastEpochSeconds = seconds;
    const rec: EpochRecord = {
      epoch,
      lr,
      loss: fit.loss,
      acc: fit.acc,
      valLoss: val.loss,
      valAcc: val.acc,
      seconds,
      ...(data.multi ? { valSources } : {}),
      ...(val.mae !== undefined ? { valMae: val.mae } : {}),
    };
    history.push(rec);
    const { improved, reducedLr } = observe(s.monitor, epoch, s.metric.value(rec), s.schedule, undefined, s.metric);
    if (improved) await saveBest(s.runDir, s.model, bestModelMeta(s, rec));
    // The checkpoint keeps the trainer's own batch-norm statistics (precise BN changed the model's).
    if (o.preciseBnBatches > 0) setModelWeights(s.model, weights);
    const state = { epoch, lr, monitor: s.monitor, history, elapsedSeconds: s.elapsedBefore + (Date.now() - s.t0) / 1000 };
    await saveCheckpoint(s.runDir, state, s.model, s.meta, await s.trainer.getOptimizerState());
    await writeEpochLogs(s.runDir, history, data.sourceNames);
    s.log(
      epochLine(rec, {
        epochs: o.epochs,
        trainSeconds,
        batches: fit.batches,
        multi: data.multi,
        improved,
        ...(reducedLr ? { reducedTo: s.monitor.plateauLr } : {}),
      }),
    );
  }
  return 'completed';
}

/** One pass over the training data; stops between batches at the deadline (timedOut) and on a non-finite loss (error). */
async function fitEpoch(s: Session, epoch: number, lr: number): Promise<{ loss: number; acc: number; batches: number; timedOut: boolean }> {
  const { o, data } = s;
  s.trainer.setLearningRate(lr);
  const order = orderForEpoch(data, o.seed, epoch);
  const rng = new Rng(deriveSeed(o.seed, epoch, 1));
  const bar = epochProgress(epoch, o.epochs, Math.ceil(order.length / o.batchSize), s.progress);
  const targets = {
    batchSize: o.batchSize,
    numClasses: data.numClasses,
    augment: o.augment,
    mixup: o.mixup,
    labelSmoothing: o.labelSmoothing,
    classWeights: data.classWeights,
    sampleTarget: data.sampleTarget,
  };
  const batches = makeBatches(data.trainStore, order, targets, rng)[Symbol.asyncIterator]();
  const prepare = async (): Promise<IteratorResult<Batch>> => {
    const next = await batches.next();
    if (!next.done && s.teacher) await teachBatch(s.teacher, next.value, data.numClasses, o);
    return next;
  };
  const lastGoodEpoch = s.history.length ? s.history[s.history.length - 1].epoch : s.epoch;
  let [lossSum, accSum, seen, b] = [0, 0, 0, 0];
  try {
    let pending = prepare();
    for (;;) {
      const next = await pending;
      if (next.done) break;
      const batch = next.value;
      const step = s.trainer.trainStep(batch.x, batch.y, batch.n);
      // Augment the next batch on this thread while the workers run this step (the step's messages
      // are posted first: setImmediate runs after the microtask that posts them).
      pending = new Promise<void>((resolve) => setImmediate(resolve)).then(prepare);
      pending.catch(() => undefined);
      const r = await step;
      checkStep(r, { epoch, batch: ++b, runDir: s.runDir, lastGoodEpoch });
      lossSum += r.loss * batch.n;
      accSum += r.accuracy * batch.n;
      seen += batch.n;
      bar.update(b, lossSum / seen, accSum / seen);
      if (Date.now() > s.deadline) return { loss: NaN, acc: NaN, batches: b, timedOut: true };
    }
  } finally {
    bar.stop();
  }
  return { loss: lossSum / seen, acc: accSum / seen, batches: b, timedOut: false };
}

/** The trainer's weights into the model, precise batch norm, then validation per dataset (their mean when several). */
async function validateEpoch(
  s: Session,
  epoch: number,
): Promise<{ val: { loss: number; acc: number; mae?: number }; valSources: SourceScore[]; weights: Float32Array[] }> {
  const { o, data } = s;
  const weights = await s.trainer.getWeights();
  setModelWeights(s.model, weights);
  await preciseBatchNorm(s.model, data.trainStore, o.preciseBnBatches, Math.max(o.batchSize, 32), deriveSeed(o.seed, epoch, 2));
  const valSources: SourceScore[] = [];
  for (const [i, st] of data.valStores.entries()) valSources.push({ name: data.loaded[i].name, ...(await validate(s.model, st, undefined, data.age)) });
  const val = data.multi ? combineScores(valSources) : valSources[0];
  checkValidation(val.loss, epoch, s.runDir);
  return { val, valSources, weights };
}

/** best/'s metadata: the epoch, its validation figures, and the data it was selected on. */
function bestModelMeta(s: Session, rec: EpochRecord): ModelMeta {
  const { o, data } = s;
  const sources = data.multi
    ? { sources: (rec.valSources ?? []).map((v, i) => ({ ...v, path: data.loaded[i].spec.path, weight: data.loaded[i].spec.weight })) }
    : {};
  const selectedBy = s.metric.name === 'val_loss' ? {} : { selectedBy: s.metric.name };
  return {
    ...s.meta,
    training: {
      epoch: rec.epoch,
      valLoss: rec.valLoss,
      valAccuracy: rec.valAcc,
      ...(rec.valMae !== undefined ? { valMae: rec.valMae } : {}),
      ...selectedBy,
      dataset: data.ds.format,
      ...sources,
      split: data.ds.split.method,
      splitSeed: splitSeedOf(o),
      valFraction: o.valFraction,
      testFraction: o.testFraction,
    },
  };
}

/** The summary (training.json) of a run whose epoch loop ended for `loopReason`. */
function finish(o: TrainOptions, runDir: string, data: RunData, start: Start, loopReason: StopReason, log: (line: string) => void, t0: number): TrainSummary {
  const { history, monitor } = start;
  const last = history.length ? history[history.length - 1].epoch : undefined;
  const bestRec = history.find((h) => h.epoch === monitor.bestEpoch);
  const skipped = skippedInputs(data);
  const summary: TrainSummary = {
    runDir,
    stopReason: finalStopReason(loopReason, monitor, o.earlyStopping, last, o.epochs),
    epochsDone: last ?? 0,
    bestEpoch: monitor.bestEpoch,
    bestValLoss: bestRec?.valLoss ?? Infinity,
    bestValAcc: bestRec?.valAcc ?? NaN,
    ...(bestRec?.valMae !== undefined ? { bestValMae: bestRec.valMae } : {}),
    history,
    skipped: { count: skipped.length, examples: skipped.slice(0, 20) },
    seconds: start.elapsedBefore + (Date.now() - t0) / 1000,
  };
  writeTrainingJson(runDir, summary);
  if (skipped.length) log(`skipped ${skipped.length} inputs in total (details in ${path.join(runDir, 'training.json')})`);
  return summary;
}
