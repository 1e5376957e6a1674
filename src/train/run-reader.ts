/**
 * What `facecls ship` reads from a training run directory (only read): config.json, log.csv,
 * split.json, checkpoint.json, training.json and best/; the run's datasets as it split them; and the
 * checks that runs shipped together as an ensemble were trained alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { MODEL_JSON } from '../io/fs-handler.js';
import type { Dataset, SplitName } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import { ageCodecOf, splitSeedOf, type TrainOptions } from './options.js';
import { combineSources, dataSources } from './sources.js';

export interface LogRow {
  epoch: number;
  valLoss: number;
  valAcc: number;
  seconds: number;
  /** Age runs: validation MAE (years). */
  valMae?: number;
}

export interface SplitFile {
  format: string;
  root: string;
  method: string;
  seed?: number;
  counts: Record<SplitName, number>;
  ids?: Record<SplitName, string[]>;
  trainLimit?: number;
  /** Runs on several datasets: one record per dataset (the top level then has only counts). */
  sources?: Array<SplitFile & { name: string; weight: number }>;
}

function readJson<T>(file: string, what: string): T {
  if (!fs.existsSync(file)) throw new UserError(`${what} "${file}" is missing`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new UserError(`${what} "${file}" is not valid JSON: ${errorMessage(err)}`);
  }
}

/** log.csv rows; a malformed file is an error naming it. */
export function readLog(file: string): LogRow[] {
  if (!fs.existsSync(file)) throw new UserError(`training log "${file}" is missing`);
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const head = lines[0].split(',');
  const col = (n: string) => head.indexOf(n);
  const need = ['epoch', 'val_loss', 'val_accuracy', 'seconds'];
  if (need.some((n) => col(n) < 0)) throw new UserError(`training log "${file}" lacks the columns ${need.join(', ')}`);
  return lines.slice(1).map((l, i) => {
    const f = l.split(',').map(Number);
    if (f.length !== head.length || !f.every(Number.isFinite)) throw new UserError(`training log "${file}" line ${i + 2} is malformed: "${l.slice(0, 80)}"`);
    const row: LogRow = { epoch: f[col('epoch')], valLoss: f[col('val_loss')], valAcc: f[col('val_accuracy')], seconds: f[col('seconds')] };
    if (col('val_mae') >= 0) row.valMae = f[col('val_mae')];
    return row;
  });
}

/** One dataset of a run, as the run split it. */
export interface RunPart {
  name: string;
  ds: Dataset;
  weight: number;
}

/**
 * The run's datasets as it split them (several when it trained on several) and their combination;
 * fails when one no longer matches split.json (counts and, when recorded, ids).
 */
export async function loadRunDatasets(
  o: TrainOptions,
  split: SplitFile,
  dataOverride: string | undefined,
  splitFile: string,
): Promise<{ ds: Dataset; parts: RunPart[] }> {
  if (!split.sources) {
    const ds = await loadRunDataset(o, split, dataOverride, splitFile);
    return { ds, parts: [{ name: path.basename(ds.root), ds, weight: 1 }] };
  }
  if (dataOverride)
    throw new UserError('a run trained on several datasets cannot be relocated to one dataset path; move them back to the paths in its config.json', {
      reason: 'cannot-relocate',
    });
  const specs = dataSources(o);
  if (specs.length !== split.sources.length) throw new UserError(`the run's config lists ${specs.length} datasets, its ${splitFile} ${split.sources.length}`);
  const parts: RunPart[] = [];
  for (const [i, spec] of specs.entries()) {
    const one = { ...o, data: spec.path, format: spec.format, sources: undefined };
    parts.push({ name: split.sources[i].name, ds: await loadRunDataset(one, split.sources[i], undefined, splitFile), weight: spec.weight });
  }
  const ds = combineSources(parts.map((p) => ({ spec: { path: p.ds.root, weight: p.weight }, name: p.name, ds: p.ds })));
  return { ds, parts };
}

/** The dataset as the run split it; fails when it no longer matches split.json (counts and, when recorded, ids). */
async function loadRunDataset(o: TrainOptions, split: SplitFile, dataOverride: string | undefined, splitFile: string): Promise<Dataset> {
  const data = dataOverride ? path.resolve(dataOverride) : o.data;
  if (!fs.existsSync(data)) throw new UserError(`the run's dataset "${data}" does not exist`, { reason: 'dataset-moved' });
  const ds = await loadDataset(data, {
    task: o.task,
    format: o.format,
    split: { seed: splitSeedOf(o), val: o.valFraction, test: o.testFraction },
    ...(o.task === 'age' ? { ageCodec: ageCodecOf(o) } : {}),
  });
  const problem =
    ds.format !== split.format
      ? `format ${ds.format}, the run used ${split.format}`
      : JSON.stringify(ds.split.counts) !== JSON.stringify(split.counts)
        ? `counts ${JSON.stringify(ds.split.counts)}, the run had ${JSON.stringify(split.counts)}`
        : (['train', 'val', 'test'] as const).find(
            (s) => split.ids?.[s] && [...split.ids[s]].sort().join('\n') !== [...(ds.split.ids?.[s] ?? [])].sort().join('\n'),
          );
  if (problem)
    throw new UserError(
      `dataset "${data}" no longer splits as the run did (${splitFile}): ${problem === 'train' || problem === 'val' || problem === 'test' ? `the ${problem} files differ` : problem}`,
    );
  return ds;
}

/** The weight files a model.json lists (`json`: its bytes; `file`: its path, for errors), checked to stay inside its folder. */
export function weightFiles(json: Buffer, file: string): string[] {
  let files: string[];
  try {
    files = ((JSON.parse(json.toString('utf8')) as { weightsManifest?: Array<{ paths?: string[] }> }).weightsManifest ?? []).flatMap((g) => g.paths ?? []);
  } catch (err) {
    throw new UserError(`"${file}" is not valid JSON: ${errorMessage(err)}`);
  }
  for (const f of files)
    if (path.isAbsolute(f) || f.split(/[\\/]/).includes('..')) throw new UserError(`"${file}" names weight file "${f}" outside the model folder`);
  return files;
}

/**
 * Copy best/ (model.json and the weight files it lists) into `dst`. Training may replace best/ at any
 * moment (by renaming a new folder over it): the copy is retried until model.json is unchanged across it.
 */
export function copyBest(best: string, dst: string): void {
  for (let attempt = 0; attempt < 5; attempt++) {
    let json: Buffer;
    try {
      json = fs.readFileSync(path.join(best, MODEL_JSON));
    } catch (err) {
      if (attempt < 4) continue;
      throw new UserError(`cannot read "${path.join(best, MODEL_JSON)}": ${errorMessage(err)}`);
    }
    const files = weightFiles(json, path.join(best, MODEL_JSON));
    try {
      for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(dst, f)), { recursive: true });
        fs.copyFileSync(path.join(best, f), path.join(dst, f));
      }
      fs.writeFileSync(path.join(dst, MODEL_JSON), json);
      if (fs.readFileSync(path.join(best, MODEL_JSON)).equals(json)) return;
    } catch (err) {
      if (attempt === 4) throw new UserError(`cannot copy the model in "${best}": ${errorMessage(err)}`);
    }
  }
  throw new UserError(`the model in "${best}" kept changing while it was copied (training is replacing it): try again`);
}

export interface RunInfo {
  arg: string;
  dir: string;
  o: TrainOptions;
  log: LogRow[];
  split: SplitFile;
  splitFile: string;
  best: string;
  ck?: { monitor?: { bestEpoch?: number }; elapsedSeconds?: number };
  training?: { epochsDone?: number; stopReason?: string; bestEpoch?: number };
  lastEpoch: number;
  finished: boolean;
}

/** What `ship` reads from a training run directory (only read). */
export function readRun(arg: string, out: string): RunInfo {
  const dir = path.resolve(arg);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`run directory "${arg}" does not exist`);
  const cfgFile = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new UserError(`"${arg}" is not a training run directory (no config.json)`);
  if (out === dir || out.startsWith(dir + path.sep))
    throw new UserError(`output "${out}" is inside the run directory "${arg}": ship to a folder of its own (e.g. models/<name>)`);
  const o = readJson<{ options?: TrainOptions }>(cfgFile, 'run config').options;
  if (!o || !o.task || !o.arch || !o.data) throw new UserError(`run config "${cfgFile}" has no training options`);
  const log = readLog(path.join(dir, 'log.csv'));
  if (log.length === 0) throw new UserError(`run "${arg}" has not completed an epoch yet (log.csv is empty): nothing to ship`);
  const splitFile = path.join(dir, 'split.json');
  const split = readJson<SplitFile>(splitFile, 'run split');
  const best = path.join(dir, 'best');
  if (!fs.existsSync(path.join(best, MODEL_JSON)) && !fs.existsSync(path.join(`${best}.old`, MODEL_JSON)))
    throw new UserError(`run "${arg}" has no best model (best/${MODEL_JSON})`);
  const ckFile = path.join(dir, 'checkpoint.json');
  const ck = fs.existsSync(ckFile) ? readJson<RunInfo['ck'] & object>(ckFile, 'checkpoint') : undefined;
  const trFile = path.join(dir, 'training.json');
  const training = fs.existsSync(trFile) ? readJson<RunInfo['training'] & object>(trFile, 'training summary') : undefined;
  const lastEpoch = log[log.length - 1].epoch;
  const finished = lastEpoch >= o.epochs || (training?.epochsDone === lastEpoch && training.stopReason === 'early-stopping');
  return { arg, dir, o, log, split, splitFile, best, ck, training, lastEpoch, finished };
}

/** A run's split record per dataset path (one entry, or one per dataset of a run on several). */
function splitsByPath(r: RunInfo): Map<string, Omit<SplitFile, 'sources' | 'trainLimit'>> {
  const specs = dataSources(r.o);
  const recs = r.split.sources ?? [r.split];
  return new Map(
    specs.map((spec, i) => {
      const { format, root, method, seed, counts, ids } = recs[i] ?? r.split;
      return [path.resolve(spec.path), { format, root, method, seed, counts, ids }];
    }),
  );
}

/** Members of an ensemble must be trained for the same task on compatible data and splits, with the same input. */
export function checkSameSetup(runs: RunInfo[]): void {
  const r0 = runs[0];
  for (const r of runs.slice(1)) {
    const differ = (what: string, a: unknown, b: unknown, show: (x: unknown) => string = (x) => JSON.stringify(x)) => {
      if (JSON.stringify(a) !== JSON.stringify(b))
        throw new UserError(`ensemble members must share ${what}: "${r.arg}" has ${show(a)}, "${r0.arg}" ${show(b)}`);
    };
    differ('the task', r.o.task, r0.o.task);
    // Every member's datasets are among the first member's, split the same way (so no member has seen
    // another's validation or test images); the ensemble is evaluated on the first member's datasets.
    const first = splitsByPath(r0);
    for (const [p, rec] of splitsByPath(r)) {
      const f = first.get(p);
      if (!f)
        throw new UserError(
          `ensemble members must be trained on the first member's datasets: "${r.arg}" used ${p}, which "${r0.arg}" did not (list the run with the most datasets first)`,
        );
      differ(`the split of ${p} (split.json)`, rec, f, (x) => {
        const sf = x as SplitFile;
        return `${sf.method}${sf.seed !== undefined ? ` with seed ${sf.seed}` : ''} (counts ${JSON.stringify(sf.counts)})`;
      });
    }
    differ('the input size', r.o.inputSize, r0.o.inputSize);
    differ('the input channels', r.o.channels, r0.o.channels);
    differ('the crop margin', r.o.cropMargin, r0.o.cropMargin);
  }
}
