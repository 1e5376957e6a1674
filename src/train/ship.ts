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
import type { Dataset } from '../data/dataset.js';
import { cardEvaluation, portablePath, MODEL_CARD_JSON, MODEL_CARD_MD, type CardEvaluation, type ModelCard } from './model-card.js';
import { modelCardMarkdown } from './model-card-markdown.js';
import { checkSameSetup, copyBest, loadRunDatasets, readRun, weightFiles, type RunInfo, type RunPart } from './run-reader.js';
import { assembleCard, shipStatus, splitLabel, type BestInfo } from './ship-card.js';
import { withAgeRange, writeAgePlots } from './age-card.js';

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

/** The shipped model written into `dir`: its metadata, cost, calibration, and each member's best-epoch record. */
interface Built {
  meta: ModelMeta;
  cost: ReturnType<typeof modelCost>;
  calibration?: ModelCard['calibration'];
  bestInfos: BestInfo[];
}

/**
 * Ship one training run, or several as an ensemble (one layers model averaging the members'
 * probabilities, src/framework/ensemble.ts), to `outArg`.
 */
export async function shipRun(runDirArgs: string | string[], outArg: string, opts: ShipOptions = {}): Promise<ShipResult> {
  const args = Array.isArray(runDirArgs) ? runDirArgs : [runDirArgs];
  if (args.length === 0) throw new UserError('no training run to ship');
  const out = path.resolve(outArg);
  const outExists = () => fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0);
  const runs = args.map((a) => readRun(a, out));
  if (new Set(runs.map((r) => r.dir)).size !== runs.length) throw new UserError('the same run is listed twice: an ensemble needs different runs');
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UserError(`output "${outArg}" exists and is not a folder`);
  if (outExists() && !opts.force) throw new UserError(`output "${outArg}" exists`, { reason: 'output-exists' });
  checkSameSetup(runs);
  const run0 = runs[0];
  const status = shipStatus(runs, Boolean(opts.final));
  const { ds, parts } = await loadRunDatasets(run0.o, run0.split, opts.data, run0.splitFile);
  if (opts.final && ds.splits.test.length === 0)
    throw new UserError(`the run's split has no test samples (${run0.splitFile}): nothing for the final evaluation`);

  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.ship-${process.pid}-${Date.now()}`);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await setupBackend(opts.backend);
    const built = await buildModelDir(tmp, runs, ds, path.basename(out), opts);
    const weights = weightFiles(fs.readFileSync(path.join(tmp, MODEL_JSON)), path.join(tmp, MODEL_JSON)).map((f) =>
      path.posix.normalize(f.replace(/\\/g, '/')),
    );
    const exported = await writeOnnx(tmp, path.join(tmp, MODEL_ONNX));
    if (!shippedOnnx(tmp)) throw new UserError(`the exported ${MODEL_ONNX} does not match the copied weights`);
    const evaluation = await evaluateParts(tmp, parts, opts);
    const card = assembleCard({
      name: path.basename(out),
      status,
      runs,
      ds,
      parts,
      ...built,
      ...evaluation,
      tta: opts.tta ?? 'none',
      final: Boolean(opts.final),
      notes: opts.notes,
      weights,
      sourceSha256: exported.source,
    });
    writeFileAtomic(path.join(tmp, MODEL_CARD_JSON), JSON.stringify(card, null, 2) + '\n');
    writeFileAtomic(path.join(tmp, MODEL_CARD_MD), modelCardMarkdown(card));
    if (card.task === 'age') await writeAgePlots(tmp, [...evaluation.val, ...(evaluation.test ?? [])]);
    // Into place: the old folder (with --force) is moved aside first, so a crash leaves one of the two.
    if (outExists() && !opts.force) throw new UserError(`output "${outArg}" appeared while shipping`, { reason: 'output-exists' });
    moveIntoPlace(tmp, out, outArg);
    return { dir: out, card };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function moveIntoPlace(tmp: string, out: string, outArg: string): void {
  const old = `${tmp}.old`;
  if (fs.existsSync(out)) fs.renameSync(out, old);
  try {
    fs.renameSync(tmp, out);
  } catch (err) {
    if (fs.existsSync(old)) fs.renameSync(old, out);
    throw new UserError(`cannot move the shipped model into "${outArg}": ${errorMessage(err)}`);
  }
  fs.rmSync(old, { recursive: true, force: true });
}

/** Each member's best weights copied (training may still be replacing best/), calibrated with --balance, and saved into `tmp` (an ensemble as one model). */
async function buildModelDir(tmp: string, runs: RunInfo[], ds: Dataset, name: string, opts: ShipOptions): Promise<Built> {
  const memberDirs = runs.map((r, i) => {
    const dst = runs.length === 1 ? tmp : path.join(tmp, '.members', String(i));
    fs.mkdirSync(dst, { recursive: true });
    copyBest(fs.existsSync(path.join(r.best, MODEL_JSON)) ? r.best : `${r.best}.old`, dst);
    return dst;
  });
  const loaded: LoadedModel[] = [];
  try {
    for (const d of memberDirs) loaded.push(await loadModel(d));
    for (const [i, l] of loaded.entries()) {
      if (l.meta.labels.join() !== ds.labels.join())
        throw new UserError(`the best model of "${runs[i].arg}" has labels ${l.meta.labels.join(', ')}, its dataset ${ds.labels.join(', ')}`);
    }
    const bestInfos = loaded.map((l) => (l.meta.training ?? {}) as BestInfo);
    const calibration = opts.balance ? await calibrate(memberDirs, loaded, ds, runs[0].arg, opts.balance, opts) : undefined;
    const offsets = calibration ? { logitOffsets: calibration.offsets } : {};
    const tta = opts.tta ?? 'none';
    if (runs.length === 1) {
      let meta: ModelMeta = { ...loaded[0].meta, tta, ...offsets };
      await saveModel(loaded[0].model, tmp, meta);
      if (meta.task === 'age') {
        meta = await withAgeRange(tmp, meta, ds, splitLabel(ds.format, 'val'), { tta, runtime: opts.runtime, backend: opts.backend });
        await saveModel(loaded[0].model, tmp, meta);
      }
      return { meta, cost: modelCost(loaded[0].model), calibration, bestInfos };
    }
    const ens = await buildEnsemble(
      loaded.map((l) => l.model),
      name,
    );
    try {
      const archs = loaded.map((l) => l.meta.arch ?? '?');
      const members = runs.map((r, i) => ({
        runDir: portablePath(r.dir),
        arch: archs[i],
        params: loaded[i].model.countParams(),
        training: loaded[i].meta.training,
      }));
      let meta: ModelMeta = {
        ...loaded[0].meta,
        arch: `ensemble of ${archs.length}: ${archs.join(' + ')}`,
        tta,
        ensemble: { combine: ENSEMBLE_COMBINE, members },
        ...offsets,
      };
      delete meta.training;
      await saveModel(ens, tmp, meta);
      if (meta.task === 'age') {
        meta = await withAgeRange(tmp, meta, ds, splitLabel(ds.format, 'val'), { tta, runtime: opts.runtime, backend: opts.backend });
        await saveModel(ens, tmp, meta);
      }
      fs.rmSync(path.join(tmp, '.members'), { recursive: true, force: true });
      return { meta, cost: modelCost(ens), calibration, bestInfos };
    } finally {
      ens.dispose();
    }
  } finally {
    for (const l of loaded) l.model.dispose();
  }
}

/**
 * --balance: every member's views (image, mirror) are views of the ensemble, so the offset folded into
 * each member's logits is scored exactly as the ensemble will apply it. Chosen on the validation split (adults where ages are known).
 */
async function calibrate(
  memberDirs: string[],
  loaded: LoadedModel[],
  ds: Dataset,
  arg: string,
  criterion: BalanceCriterion,
  opts: ShipOptions,
): Promise<NonNullable<ModelCard['calibration']>> {
  if (ds.labels.length !== 2)
    throw new UserError(`balancing the decision needs a two-class model, "${arg}" has ${ds.labels.length} classes`, { reason: 'needs-two-classes' });
  const hasAges = ds.splits.val.some((s) => s.meta?.age !== undefined);
  const views = [];
  for (const d of memberDirs) {
    views.push(
      (
        await evaluate({
          model: d,
          data: ds,
          split: 'val',
          tta: opts.tta ?? 'none',
          adults: hasAges,
          keepProbabilities: true,
          runtime: opts.runtime,
          backend: opts.backend,
        })
      ).probabilities!,
    );
  }
  const b = balancedLogitOffset(interleaveViews(views), 2, criterion);
  for (const l of loaded) foldLogitOffsets(l.model, b.offsets);
  return { method: BALANCE_METHODS[criterion], criterion, split: `${splitLabel(ds.format, 'val')}${hasAges ? ' (adults)' : ''}`, ...b };
}

/** The shipped model (in `dir`) on each dataset's validation split and, with --final, its test split; adults separately where ages are known. */
async function evaluateParts(dir: string, parts: RunPart[], opts: ShipOptions): Promise<{ val: CardEvaluation[]; test?: CardEvaluation[]; runtime: string }> {
  const multi = parts.length > 1;
  let runtime = '?';
  const runEval = async (part: RunPart, s: 'val' | 'test', adults: boolean): Promise<CardEvaluation> => {
    const r: EvalReport = await evaluate({
      model: dir,
      data: part.ds,
      split: s,
      tta: opts.tta ?? 'none',
      adults,
      runtime: opts.runtime,
      backend: opts.backend,
      onProgress: (d, t) => opts.onProgress?.(`${multi ? `${part.name} ` : ''}${s}${adults ? ' adults' : ''}`, d, t),
    });
    if (runtime === '?') runtime = r.runtime ?? '?';
    return cardEvaluation(r, splitLabel(part.ds.format, s, multi ? part.name : undefined));
  };
  const val: CardEvaluation[] = [];
  const test: CardEvaluation[] = [];
  for (const part of parts) {
    const ages = part.ds.splits.val.some((x) => x.meta?.age !== undefined);
    val.push(await runEval(part, 'val', false));
    if (ages) val.push(await runEval(part, 'val', true));
    if (opts.final && part.ds.splits.test.length > 0) {
      test.push(await runEval(part, 'test', false));
      if (ages) test.push(await runEval(part, 'test', true));
    }
  }
  return { val, ...(opts.final ? { test } : {}), runtime };
}
