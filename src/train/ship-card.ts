/**
 * The model card `facecls ship` writes: its status, its data and training sections, assembled from
 * what the run directory records and the evaluations of the shipped model.
 */
import { UserError } from '../errors.js';
import { ENSEMBLE_COMBINE } from '../framework/ensemble.js';
import type { modelCost } from '../framework/cost.js';
import { MODEL_JSON } from '../io/fs-handler.js';
import type { ModelMeta } from '../io/model-store.js';
import { MODEL_ONNX } from '../io/onnx/model-dir.js';
import { labelCounts, type Dataset } from '../data/dataset.js';
import { selectionMetric } from './best-model.js';
import { limitations, portablePath, trainCommand, type CardEvaluation, type ModelCard } from './model-card.js';
import { readSessions, SESSIONS_JSONL } from './run-log.js';
import type { EpochRecord } from './options.js';
import type { RunInfo, RunPart } from './run-reader.js';

const SPLIT_NAMES_BY_FORMAT: Record<string, Record<'val' | 'test', string>> = {
  'fer2013-csv': { val: 'FER-2013 PublicTest', test: 'FER-2013 PrivateTest' },
  'fer2013-folders': { val: 'FER-2013 PublicTest', test: 'FER-2013 PrivateTest' },
  utkface: { val: 'UTKFace validation split', test: 'UTKFace test split' },
};

/** What the best model's metadata records of its epoch (best/model.json's training). */
export type BestInfo = { epoch?: number; valLoss?: number; valAccuracy?: number; valMae?: number };

export function splitLabel(format: string, split: 'val' | 'test', name?: string): string {
  return SPLIT_NAMES_BY_FORMAT[format]?.[split] ?? (name ? `${name} ${split === 'val' ? 'validation' : 'test'} split` : `${split} split`);
}

/** Was the run continued with --resume? Only what the run directory records can tell. */
function resumeEvidence(training: { epochsDone?: number; stopReason?: string } | undefined, lastEpoch: number): boolean {
  return Boolean(training && typeof training.epochsDone === 'number' && training.epochsDone < lastEpoch);
}

/** The card's training section for one run. */
export function trainingSection(r: RunInfo, bestInfo: BestInfo): ModelCard['training'] {
  const { o, log, training, lastEpoch, finished } = r;
  const metric = selectionMetric(o.selectBy);
  const score = (row: (typeof log)[number]) => (metric.mode === 'min' ? 1 : -1) * metric.value(row as unknown as EpochRecord);
  const bestEpoch = bestInfo.epoch ?? r.ck?.monitor?.bestEpoch ?? training?.bestEpoch ?? log.reduce((a, b) => (score(b) < score(a) ? b : a)).epoch;
  const bestRow = log.find((x) => x.epoch === bestEpoch);
  const sessions = readSessions(r.dir);
  const resumes = sessions.filter((x) => x.resumed);
  const resumed = resumes.length > 0 || resumeEvidence(training, lastEpoch);
  const runRel = portablePath(r.dir);
  return {
    runDir: runRel,
    command: trainCommand(o, r.dir),
    resumed,
    ...(sessions.length ? { sessions } : {}),
    resumeNote: resumed
      ? `The run was interrupted and continued with \`facecls train --resume ${runRel}\` (same config.json, epoch, learning rate and Adam state)` +
        (resumes.length ? `, ${resumes.length} time(s): after epoch(s) ${resumes.map((x) => x.fromEpoch).join(', ')} (${runRel}/${SESSIONS_JSONL}).` : '.')
      : finished
        ? sessions.length
          ? `Trained in one session (${runRel}/${SESSIONS_JSONL} records no resume).`
          : 'No resume recorded in the run directory (it predates sessions.jsonl).'
        : `Training continues with \`facecls train --resume ${runRel}\` (same config.json, epoch, learning rate and Adam state).`,
    epochsPlanned: o.epochs,
    epochsRun: lastEpoch,
    bestEpoch,
    bestValLoss: bestInfo.valLoss ?? bestRow?.valLoss ?? NaN,
    bestValAccuracy: bestInfo.valAccuracy ?? bestRow?.valAcc ?? NaN,
    ...(o.task === 'age' ? { bestValMae: bestInfo.valMae ?? bestRow?.valMae ?? NaN } : {}),
    wallSeconds: Math.round(log.reduce((a, x) => a + x.seconds, 0) * 10) / 10,
    ...(training?.stopReason && training.epochsDone === lastEpoch ? { stopReason: training.stopReason } : {}),
    options: o,
  };
}

/**
 * The card's status: "final" only with --final (the one read of the test split, once every run has
 * ended); otherwise interim, saying whether training is still in progress.
 */
export function shipStatus(runs: RunInfo[], final: boolean): string {
  const unfinished = runs.filter((r) => !r.finished);
  if (final && unfinished.length) {
    const r = unfinished[0];
    throw new UserError(`run "${r.arg}" is at epoch ${r.lastEpoch} of ${r.o.epochs}: the test split is evaluated once, when training has ended`, {
      reason: 'run-unfinished',
    });
  }
  if (unfinished.length > 0)
    return `interim: training in progress, ${unfinished.map((r) => `${runs.length > 1 ? `${r.arg} ` : ''}epoch ${r.lastEpoch} of ${r.o.epochs}`).join(', ')}`;
  return final ? 'final' : 'interim: training finished, test figures withheld until facecls ship --final';
}

/** What assembleCard puts together. */
export interface CardInput {
  name: string;
  status: string;
  runs: RunInfo[];
  ds: Dataset;
  parts: RunPart[];
  meta: ModelMeta;
  cost: ReturnType<typeof modelCost>;
  calibration?: ModelCard['calibration'];
  bestInfos: BestInfo[];
  val: CardEvaluation[];
  /** Present with --final. */
  test?: CardEvaluation[];
  runtime: string;
  tta: 'none' | 'flip';
  final: boolean;
  notes?: string[];
  weights: string[];
  sourceSha256: string;
}

/** The card's data section: datasets, split, counts, how the best epoch was selected, the test split's state. */
function dataSection(c: CardInput, trainCounts: number[]): ModelCard['data'] {
  const { ds, parts, runs } = c;
  const o = runs[0].o;
  const multi = parts.length > 1;
  const each = runs.length > 1 ? 'each member: ' : '';
  const metric = selectionMetric(o.selectBy);
  return {
    format: multi ? parts.map((p) => p.ds.format).join(' + ') : ds.format,
    root: multi ? parts.map((p) => portablePath(p.ds.root)).join(' + ') : portablePath(ds.root),
    ...(multi
      ? {
          sources: parts.map((p) => ({
            name: p.name,
            format: p.ds.format,
            root: portablePath(p.ds.root),
            weight: p.weight,
            splitMethod: p.ds.split.method,
            counts: { ...p.ds.split.counts },
          })),
        }
      : {}),
    splitMethod: ds.split.method,
    ...(ds.split.seed !== undefined ? { seed: ds.split.seed } : {}),
    counts: { ...ds.split.counts },
    trainClassCounts: Object.fromEntries(ds.labels.map((l, i) => [l, trainCounts[i]])),
    ...(o.trainLimit !== undefined ? { trainLimit: o.trainLimit } : {}),
    selection: multi
      ? `${each}best epoch by the mean of the ${metric.title === 'validation loss' ? 'validation losses' : `${metric.title} values`} of ${parts.map((p) => `the ${splitLabel(p.ds.format, 'val', p.name)} (${p.ds.split.counts.val} images)`).join(' and ')}; no test split was read during training`
      : `${each}best epoch by ${metric.title} on the ${splitLabel(ds.format, 'val')} (${ds.split.counts.val} images); the test split was not read during training`,
    test: parts
      .map((p) =>
        p.ds.splits.test.length === 0
          ? `${p.name}: no test split here (its official test split is held out of this project)`
          : `${splitLabel(p.ds.format, 'test', multi ? p.name : undefined)} (${p.ds.split.counts.test} images)${c.final ? ', evaluated once at the end' : ': not evaluated yet'}`,
      )
      .join('; '),
  };
}

/** The model card (model-card.json; MODEL_CARD.md is rendered from it). */
export function assembleCard(c: CardInput): ModelCard {
  const { ds, meta, runs } = c;
  const sections = runs.map((r, i) => trainingSection(r, c.bestInfos[i]));
  const trainCounts = labelCounts(ds.splits.train, ds.labels.length);
  return {
    card: 'facecls-model-card',
    version: 1,
    name: c.name,
    task: meta.task,
    labels: meta.labels,
    status: c.status,
    shippedAt: new Date().toISOString(),
    ...(c.calibration ? { calibration: c.calibration } : {}),
    ...(c.notes?.length ? { notes: c.notes } : {}),
    data: dataSection(c, trainCounts),
    architecture: { arch: meta.arch ?? runs[0].o.arch, ...c.cost },
    input: {
      size: meta.inputSize,
      channels: meta.channels,
      colorSpace: meta.preprocessing.colorSpace,
      range: meta.preprocessing.range,
      cropMargin: meta.cropMargin ?? 0,
      preprocess: `src/data/preprocess.ts preprocessFace: crop (edges replicated), ${meta.channels === 1 ? 'grey (BT.601 luma)' : 'RGB'}, resize to ${meta.inputSize}x${meta.inputSize}, x / 127.5 - 1`,
    },
    training: sections[0],
    ...(runs.length > 1 ? { ensemble: { combine: `${ENSEMBLE_COMBINE} (one layers model, src/framework/ensemble.ts)`, members: sections } } : {}),
    evaluation: {
      tta: c.tta,
      runtime: c.runtime,
      val: c.val,
      test: c.test ?? {
        withheld: true,
        note: `Test figures are withheld until the final evaluation: the protocol evaluates the ${splitLabel(ds.format, 'test')} once, at the end of training (facecls ship --final).`,
      },
    },
    limitations: limitations(meta.task, ds.format, Object.fromEntries(ds.labels.map((l, i) => [l, trainCounts[i]])), [...c.val, ...(c.test ?? [])]),
    files: { model: MODEL_JSON, weights: c.weights, onnx: MODEL_ONNX, sourceSha256: c.sourceSha256 },
  };
}
