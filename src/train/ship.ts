/**
 * `facecls ship <run-dir> -o <model dir>`: turn a training run into a shipped model directory:
 * best/ (model.json + weights, facecls metadata kept), model.onnx exported from exactly those weights
 * (createRuntime uses it while its recorded fingerprint matches), evaluation on the run's own
 * validation split (and, with --final, once on the test split), model-card.json and MODEL_CARD.md.
 * Everything is written to a temporary folder beside the output and renamed into place.
 * The run directory is only read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setupBackend } from '../engine/backend.js';
import { evaluate, type EvalReport } from '../eval/evaluate.js';
import { UserError, errorMessage } from '../errors.js';
import { modelCost } from '../framework/cost.js';
import { MODEL_JSON, writeFileAtomic } from '../io/fs-handler.js';
import { buildEnsemble, ENSEMBLE_COMBINE } from '../framework/ensemble.js';
import { loadModel, saveModel, type LoadedModel, type ModelMeta } from '../io/model-store.js';
import { BALANCE_METHODS, balancedLogitOffset, foldLogitOffsets, interleaveViews, type BalanceCriterion } from './calibrate.js';
import { MODEL_ONNX, shippedOnnx, writeOnnx } from '../io/onnx/model-dir.js';
import { labelCounts, type Dataset, type SplitName } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import { cardEvaluation, limitations, portablePath, MODEL_CARD_JSON, MODEL_CARD_MD, modelCardMarkdown, trainCommand, type CardEvaluation, type ModelCard } from './model-card.js';
import { splitSeedOf, type TrainOptions } from './options.js';
import { readSessions, SESSIONS_JSONL } from './run-log.js';
import { combineSources, dataSources } from './sources.js';

export interface ShipOptions {
  /** Also evaluate the test split (the protocol's single, final evaluation). */
  final?: boolean;
  tta?: 'none' | 'flip';
  /**
   * Two-class models: add a logit offset, chosen on the validation split (adults where ages are
   * known), that maximises balanced accuracy or equalises the two recalls (src/train/calibrate.ts).
   */
  balance?: BalanceCriterion;
  /** Replace an existing output folder. */
  force?: boolean;
  /** Facts the card must state that the run directory cannot show (e.g. an earlier test-split read). */
  notes?: string[];
  /** Dataset path when it moved since training (must still match the run's split.json). */
  data?: string;
  runtime?: string;
  backend?: string;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface ShipResult {
  dir: string;
  card: ModelCard;
}

interface LogRow {
  epoch: number;
  valLoss: number;
  valAcc: number;
  seconds: number;
}

interface SplitFile {
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
    const row = { epoch: f[col('epoch')], valLoss: f[col('val_loss')], valAcc: f[col('val_accuracy')], seconds: f[col('seconds')] };
    return row;
  });
}

const SPLIT_NAMES_BY_FORMAT: Record<string, Record<'val' | 'test', string>> = {
  'fer2013-csv': { val: 'FER-2013 PublicTest', test: 'FER-2013 PrivateTest' },
  'fer2013-folders': { val: 'FER-2013 PublicTest', test: 'FER-2013 PrivateTest' },
  utkface: { val: 'UTKFace validation split', test: 'UTKFace test split' },
};

function splitLabel(format: string, split: 'val' | 'test', name?: string): string {
  return SPLIT_NAMES_BY_FORMAT[format]?.[split] ?? (name ? `${name} ${split === 'val' ? 'validation' : 'test'} split` : `${split} split`);
}

/** One dataset of a run, as the run split it. */
interface RunPart {
  name: string;
  ds: Dataset;
  weight: number;
}

/**
 * The run's datasets as it split them (several when it trained on several) and their combination;
 * fails when one no longer matches split.json (counts and, when recorded, ids).
 */
async function loadRunData(o: TrainOptions, split: SplitFile, dataOverride: string | undefined, splitFile: string): Promise<{ ds: Dataset; parts: RunPart[] }> {
  if (!split.sources) {
    const ds = await loadRunDataset(o, split, dataOverride, splitFile);
    return { ds, parts: [{ name: path.basename(ds.root), ds, weight: 1 }] };
  }
  if (dataOverride) throw new UserError('--data cannot relocate a run trained on several datasets; move them back to the paths in its config.json');
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
  if (!fs.existsSync(data)) throw new UserError(`the run's dataset "${data}" does not exist (if it moved, pass --data <path>)`);
  const ds = await loadDataset(data, { task: o.task, format: o.format, split: { seed: splitSeedOf(o), val: o.valFraction, test: o.testFraction } });
  const problem =
    ds.format !== split.format
      ? `format ${ds.format}, the run used ${split.format}`
      : JSON.stringify(ds.split.counts) !== JSON.stringify(split.counts)
        ? `counts ${JSON.stringify(ds.split.counts)}, the run had ${JSON.stringify(split.counts)}`
        : (['train', 'val', 'test'] as const).find((s) => split.ids?.[s] && [...split.ids[s]].sort().join('\n') !== [...(ds.split.ids?.[s] ?? [])].sort().join('\n'));
  if (problem) throw new UserError(`dataset "${data}" no longer splits as the run did (${splitFile}): ${problem === 'train' || problem === 'val' || problem === 'test' ? `the ${problem} files differ` : problem}`);
  return ds;
}

/** The weight files a model.json lists (`json`: its bytes; `file`: its path, for errors), checked to stay inside its folder. */
function weightFiles(json: Buffer, file: string): string[] {
  let files: string[];
  try {
    files = ((JSON.parse(json.toString('utf8')) as { weightsManifest?: Array<{ paths?: string[] }> }).weightsManifest ?? []).flatMap((g) => g.paths ?? []);
  } catch (err) {
    throw new UserError(`"${file}" is not valid JSON: ${errorMessage(err)}`);
  }
  for (const f of files) if (path.isAbsolute(f) || f.split(/[\\/]/).includes('..')) throw new UserError(`"${file}" names weight file "${f}" outside the model folder`);
  return files;
}

/**
 * Copy best/ (model.json and the weight files it lists) into `dst`. Training may replace best/ at any
 * moment (by renaming a new folder over it): the copy is retried until model.json is unchanged across it.
 */
function copyBest(best: string, dst: string): void {
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

/** Was the run continued with --resume? Only what the run directory records can tell. */
function resumeEvidence(training: { epochsDone?: number; stopReason?: string } | undefined, lastEpoch: number): boolean {
  return Boolean(training && typeof training.epochsDone === 'number' && training.epochsDone < lastEpoch);
}

interface RunInfo {
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
function readRun(arg: string, out: string): RunInfo {
  const dir = path.resolve(arg);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`run directory "${arg}" does not exist`);
  const cfgFile = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new UserError(`"${arg}" is not a training run directory (no config.json)`);
  if (out === dir || out.startsWith(dir + path.sep)) throw new UserError(`output "${out}" is inside the run directory "${arg}": ship to a folder of its own (e.g. models/<name>)`);
  const o = readJson<{ options?: TrainOptions }>(cfgFile, 'run config').options;
  if (!o || !o.task || !o.arch || !o.data) throw new UserError(`run config "${cfgFile}" has no training options`);
  const log = readLog(path.join(dir, 'log.csv'));
  if (log.length === 0) throw new UserError(`run "${arg}" has not completed an epoch yet (log.csv is empty): nothing to ship`);
  const splitFile = path.join(dir, 'split.json');
  const split = readJson<SplitFile>(splitFile, 'run split');
  const best = path.join(dir, 'best');
  if (!fs.existsSync(path.join(best, MODEL_JSON)) && !fs.existsSync(path.join(`${best}.old`, MODEL_JSON))) throw new UserError(`run "${arg}" has no best model (best/${MODEL_JSON})`);
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
function checkSameSetup(runs: RunInfo[]): void {
  const r0 = runs[0];
  for (const r of runs.slice(1)) {
    const differ = (what: string, a: unknown, b: unknown, show: (x: unknown) => string = (x) => JSON.stringify(x)) => {
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new UserError(`ensemble members must share ${what}: "${r.arg}" has ${show(a)}, "${r0.arg}" ${show(b)}`);
    };
    differ('the task', r.o.task, r0.o.task);
    // Every member's datasets are among the first member's, split the same way (so no member has seen
    // another's validation or test images); the ensemble is evaluated on the first member's datasets.
    const first = splitsByPath(r0);
    for (const [p, rec] of splitsByPath(r)) {
      const f = first.get(p);
      if (!f) throw new UserError(`ensemble members must be trained on the first member's datasets: "${r.arg}" used ${p}, which "${r0.arg}" did not (list the run with the most datasets first)`);
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

/** The card's training section for one run. */
function trainingSection(r: RunInfo, bestInfo: { epoch?: number; valLoss?: number; valAccuracy?: number }): ModelCard['training'] {
  const { o, log, training, lastEpoch, finished } = r;
  const bestEpoch = bestInfo.epoch ?? r.ck?.monitor?.bestEpoch ?? training?.bestEpoch ?? log.reduce((a, b) => (b.valLoss < a.valLoss ? b : a)).epoch;
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
    wallSeconds: Math.round(log.reduce((a, x) => a + x.seconds, 0) * 10) / 10,
    ...(training?.stopReason && training.epochsDone === lastEpoch ? { stopReason: training.stopReason } : {}),
    options: o,
  };
}

/**
 * Ship one training run, or several as an ensemble (one layers model averaging the members'
 * probabilities, src/framework/ensemble.ts), to `outArg`.
 */
export async function shipRun(runDirArgs: string | string[], outArg: string, opts: ShipOptions = {}): Promise<ShipResult> {
  const args = Array.isArray(runDirArgs) ? runDirArgs : [runDirArgs];
  if (args.length === 0) throw new UserError('no training run to ship');
  const out = path.resolve(outArg);
  const tta = opts.tta ?? 'none';
  const outExists = () => fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0);
  const runs = args.map((a) => readRun(a, out));
  if (new Set(runs.map((r) => r.dir)).size !== runs.length) throw new UserError('the same run is listed twice: an ensemble needs different runs');
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UserError(`output "${outArg}" exists and is not a folder`);
  if (outExists() && !opts.force) throw new UserError(`output "${outArg}" exists: pass --force to replace it`);
  checkSameSetup(runs);
  const run0 = runs[0];
  const o = run0.o;
  const split = run0.split;
  const unfinished = runs.filter((r) => !r.finished);
  // "final" only with --final (the one test read); a finished run shipped without it is interim too.
  const status =
    unfinished.length > 0
      ? `interim: training in progress, ${unfinished.map((r) => `${runs.length > 1 ? `${r.arg} ` : ''}epoch ${r.lastEpoch} of ${r.o.epochs}`).join(', ')}`
      : opts.final
        ? 'final'
        : 'interim: training finished, test figures withheld until facecls ship --final';
  if (opts.final && unfinished.length) {
    const r = unfinished[0];
    throw new UserError(`run "${r.arg}" is at epoch ${r.lastEpoch} of ${r.o.epochs}: the test split is evaluated once, when training has ended; ship without --final for an interim model`);
  }

  const { ds, parts } = await loadRunData(o, split, opts.data, run0.splitFile);
  if (opts.final && ds.splits.test.length === 0) throw new UserError(`the run's split has no test samples (${run0.splitFile}): nothing for --final to evaluate`);

  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.ship-${process.pid}-${Date.now()}`);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await setupBackend(opts.backend);
    const hasAges = ds.splits.val.some((s) => s.meta?.age !== undefined);
    const valSplitName = `${splitLabel(ds.format, 'val')}${hasAges ? ' (adults)' : ''}`;
    // Each member's best weights, copied (training may still be replacing best/) and loaded.
    const memberDirs = runs.map((r, i) => {
      const dst = runs.length === 1 ? tmp : path.join(tmp, '.members', String(i));
      fs.mkdirSync(dst, { recursive: true });
      copyBest(fs.existsSync(path.join(r.best, MODEL_JSON)) ? r.best : `${r.best}.old`, dst);
      return dst;
    });
    const loaded: LoadedModel[] = [];
    let calibration: ModelCard['calibration'];
    let meta: ModelMeta;
    let cost: ReturnType<typeof modelCost>;
    const bestInfos: Array<{ epoch?: number; valLoss?: number; valAccuracy?: number }> = [];
    try {
      for (const d of memberDirs) loaded.push(await loadModel(d));
      for (const [i, l] of loaded.entries()) {
        if (l.meta.labels.join() !== ds.labels.join()) throw new UserError(`the best model of "${runs[i].arg}" has labels ${l.meta.labels.join(', ')}, its dataset ${ds.labels.join(', ')}`);
        bestInfos.push((l.meta.training ?? {}) as { epoch?: number; valLoss?: number; valAccuracy?: number });
      }
      if (opts.balance) {
        if (ds.labels.length !== 2) throw new UserError(`--balance needs a two-class model, "${run0.arg}" has ${ds.labels.length} classes`);
        // Every member's views (image, mirror) are views of the ensemble: the offset folded into
        // each member's logits is then scored exactly as the ensemble will apply it.
        const views = [];
        for (const d of memberDirs) views.push((await evaluate({ model: d, data: ds, split: 'val', tta, adults: hasAges, keepProbabilities: true, runtime: opts.runtime, backend: opts.backend })).probabilities!);
        const b = balancedLogitOffset(interleaveViews(views), 2, opts.balance);
        for (const l of loaded) foldLogitOffsets(l.model, b.offsets);
        calibration = { method: BALANCE_METHODS[opts.balance], criterion: opts.balance, split: valSplitName, ...b };
      }
      const base = loaded[0].meta;
      if (runs.length === 1) {
        meta = { ...base, tta, ...(calibration ? { logitOffsets: calibration.offsets } : {}) };
        cost = modelCost(loaded[0].model);
        await saveModel(loaded[0].model, tmp, meta);
      } else {
        const ens = await buildEnsemble(loaded.map((l) => l.model), path.basename(out));
        try {
          const archs = loaded.map((l) => l.meta.arch ?? '?');
          meta = {
            ...base,
            arch: `ensemble of ${archs.length}: ${archs.join(' + ')}`,
            tta,
            ensemble: { combine: ENSEMBLE_COMBINE, members: runs.map((r, i) => ({ runDir: portablePath(r.dir), arch: archs[i], params: loaded[i].model.countParams(), training: loaded[i].meta.training })) },
            ...(calibration ? { logitOffsets: calibration.offsets } : {}),
          };
          delete meta.training;
          cost = modelCost(ens);
          await saveModel(ens, tmp, meta);
        } finally {
          ens.dispose();
        }
        fs.rmSync(path.join(tmp, '.members'), { recursive: true, force: true });
      }
    } finally {
      for (const l of loaded) l.model.dispose();
    }
    const weights = weightFiles(fs.readFileSync(path.join(tmp, MODEL_JSON)), path.join(tmp, MODEL_JSON)).map((f) => path.posix.normalize(f.replace(/\\/g, '/')));
    const exported = await writeOnnx(tmp, path.join(tmp, MODEL_ONNX));
    if (!shippedOnnx(tmp)) throw new UserError(`the exported ${MODEL_ONNX} does not match the copied weights`);

    const multi = parts.length > 1;
    const runEval = async (part: RunPart, s: 'val' | 'test', adults: boolean): Promise<CardEvaluation> => {
      const r: EvalReport = await evaluate({
        model: tmp,
        data: part.ds,
        split: s,
        tta,
        adults,
        runtime: opts.runtime,
        backend: opts.backend,
        onProgress: (d, t) => opts.onProgress?.(`${multi ? `${part.name} ` : ''}${s}${adults ? ' adults' : ''}`, d, t),
      });
      return Object.assign(cardEvaluation(r, splitLabel(part.ds.format, s, multi ? part.name : undefined)), { runtime: r.runtime });
    };
    const val: CardEvaluation[] = [];
    const testEvals: CardEvaluation[] = [];
    for (const part of parts) {
      const ages = part.ds.splits.val.some((x) => x.meta?.age !== undefined);
      val.push(await runEval(part, 'val', false));
      if (ages) val.push(await runEval(part, 'val', true));
      if (opts.final && part.ds.splits.test.length > 0) {
        testEvals.push(await runEval(part, 'test', false));
        if (ages) testEvals.push(await runEval(part, 'test', true));
      }
    }
    const test = opts.final ? testEvals : undefined;
    const runtime = (val[0] as CardEvaluation & { runtime?: string }).runtime ?? '?';
    for (const e of [...val, ...(test ?? [])]) delete (e as { runtime?: string }).runtime;

    const sections = runs.map((r, i) => trainingSection(r, bestInfos[i]));
    const trainCounts = labelCounts(ds.splits.train, ds.labels.length);
    const evals = [...val, ...(test ?? [])];
    const card: ModelCard = {
      card: 'facecls-model-card',
      version: 1,
      name: path.basename(out),
      task: meta.task,
      labels: meta.labels,
      status,
      shippedAt: new Date().toISOString(),
      ...(calibration ? { calibration } : {}),
      ...(opts.notes?.length ? { notes: opts.notes } : {}),
      data: {
        format: multi ? parts.map((p) => p.ds.format).join(' + ') : ds.format,
        root: multi ? parts.map((p) => portablePath(p.ds.root)).join(' + ') : portablePath(ds.root),
        ...(multi
          ? {
              sources: parts.map((p) => ({ name: p.name, format: p.ds.format, root: portablePath(p.ds.root), weight: p.weight, splitMethod: p.ds.split.method, counts: { ...p.ds.split.counts } })),
            }
          : {}),
        splitMethod: ds.split.method,
        ...(ds.split.seed !== undefined ? { seed: ds.split.seed } : {}),
        counts: { ...ds.split.counts },
        trainClassCounts: Object.fromEntries(ds.labels.map((l, i) => [l, trainCounts[i]])),
        ...(o.trainLimit !== undefined ? { trainLimit: o.trainLimit } : {}),
        selection: multi
          ? `${runs.length > 1 ? 'each member: ' : ''}best epoch by the mean of the validation losses of ${parts.map((p) => `the ${splitLabel(p.ds.format, 'val', p.name)} (${p.ds.split.counts.val} images)`).join(' and ')}; no test split was read during training`
          : `${runs.length > 1 ? 'each member: ' : ''}best epoch by validation loss on the ${splitLabel(ds.format, 'val')} (${ds.split.counts.val} images); the test split was not read during training`,
        test: parts
          .map((p) =>
            p.ds.splits.test.length === 0
              ? `${p.name}: no test split here (its official test split is held out of this project)`
              : `${splitLabel(p.ds.format, 'test', multi ? p.name : undefined)} (${p.ds.split.counts.test} images)${opts.final ? ', evaluated once at the end' : ': not evaluated yet'}`,
          )
          .join('; '),
      },
      architecture: { arch: meta.arch ?? o.arch, ...cost },
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
        tta,
        runtime,
        val,
        test: test ?? {
          withheld: true,
          note: `Test figures are withheld until the final evaluation: the protocol evaluates the ${splitLabel(ds.format, 'test')} once, at the end of training (facecls ship --final).`,
        },
      },
      limitations: limitations(meta.task, ds.format, Object.fromEntries(ds.labels.map((l, i) => [l, trainCounts[i]])), evals),
      files: { model: MODEL_JSON, weights, onnx: MODEL_ONNX, sourceSha256: exported.source },
    };
    writeFileAtomic(path.join(tmp, MODEL_CARD_JSON), JSON.stringify(card, null, 2) + '\n');
    writeFileAtomic(path.join(tmp, MODEL_CARD_MD), modelCardMarkdown(card));

    // Into place: the old folder (with --force) is moved aside first, so a crash leaves one of the two.
    if (outExists() && !opts.force) throw new UserError(`output "${outArg}" appeared while shipping: pass --force to replace it`);
    const old = `${tmp}.old`;
    if (fs.existsSync(out)) fs.renameSync(out, old);
    try {
      fs.renameSync(tmp, out);
    } catch (err) {
      if (fs.existsSync(old)) fs.renameSync(old, out);
      throw new UserError(`cannot move the shipped model into "${outArg}": ${errorMessage(err)}`);
    }
    fs.rmSync(old, { recursive: true, force: true });
    return { dir: out, card };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
