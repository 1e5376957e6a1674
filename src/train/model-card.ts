/**
 * Model cards for shipped models (`facecls ship`): the JSON card (model-card.json; its Markdown
 * rendering, MODEL_CARD.md, is model-card-markdown.ts), the `facecls train` command reconstructed from a run's config.json,
 * measured per-group gaps, and reading the cards of a models/ folder back (`facecls models`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EvalReport } from '../eval/evaluate.js';
import type { GroupRow } from '../eval/group-metrics.js';
import { errorMessage } from '../errors.js';
import type { ModelCost } from '../framework/cost.js';
import { projectRoot } from '../data/paths.js';
import { shippedModelName, type ModelVariant } from '../io/model-store.js';
import type { BalanceCriterion } from './calibrate.js';
import type { TrainOptions } from './options.js';
import { ageLimitations, cardAge, type CardAge } from './age-card.js';

const MODEL_VARIANTS: readonly ModelVariant[] = ['fast', 'accurate'];

export const MODEL_CARD_JSON = 'model-card.json';
export const MODEL_CARD_MD = 'MODEL_CARD.md';

/** One evaluation as the card keeps it (the full EvalReport minus run-specific noise). */
export interface CardEvaluation {
  split: 'val' | 'test';
  /** What the split is, e.g. "FER-2013 PublicTest". */
  splitName: string;
  adultsOnly: boolean;
  n: number;
  accuracy: number;
  balancedAccuracy: number;
  macroF1: number;
  perClass: EvalReport['metrics']['perClass'];
  labels: string[];
  /** confusion[true][predicted]. */
  confusion: number[][];
  groups: EvalReport['groups'];
  /** Measured gaps in accuracy points (UTKFace-style group metadata only). */
  gaps?: GroupGaps;
  /** Age models: MAE and the rest (src/train/age-card.ts); accuracy is then over the nearest anchor. */
  age?: CardAge;
  skipped: number;
}

export interface GroupGaps {
  /** man minus woman accuracy, points. */
  menMinusWomen?: number;
  /** Overall accuracy minus the worst ethnic group's, points (groups with >= 30 samples). */
  worstEthnicGroup?: { value: string; accuracy: number; belowOverall: number };
  /** Accuracy on ages >= 18 minus on ages < 18, points. */
  adultsMinusMinors?: number;
  minorsAccuracy?: number;
}

export interface ModelCard {
  card: 'facecls-model-card';
  version: 1;
  name: string;
  task: string;
  labels: string[];
  /** "final", or "interim: training in progress, epoch N of M". */
  status: string;
  shippedAt: string;
  /** Notes given at ship time (facecls ship --note), printed under "Notes" in the Markdown card. */
  notes?: string[];
  /** Decision threshold chosen on the validation split after training (facecls ship --balance). */
  calibration?: {
    method: string;
    /** `facecls ship --balance <criterion>`; absent in cards written before parity existed (= accuracy). */
    criterion?: BalanceCriterion;
    split: string;
    offsets: number[];
    before: { accuracy: number; balancedAccuracy: number; recalls: number[] };
    after: { accuracy: number; balancedAccuracy: number; recalls: number[] };
  };
  data: {
    format: string;
    root: string;
    /** Runs trained on several datasets: each one's layout, split, counts and sampling weight. */
    sources?: Array<{ name: string; format: string; root: string; weight: number; splitMethod: string; counts: Record<string, number> }>;
    splitMethod: string;
    seed?: number;
    counts: Record<string, number>;
    trainClassCounts: Record<string, number>;
    trainLimit?: number;
    selection: string;
    test: string;
  };
  architecture: { arch: string } & ModelCost;
  input: { size: number; channels: number; colorSpace: string; range: [number, number]; cropMargin: number; preprocess: string };
  training: {
    runDir: string;
    command: string;
    resumed: boolean;
    /** The processes that trained the run (sessions.jsonl), when recorded. */
    sessions?: Array<{ started: string; resumed: boolean; fromEpoch: number; workers: number | null; backend: string }>;
    resumeNote: string;
    epochsPlanned: number;
    epochsRun: number;
    bestEpoch: number;
    bestValLoss: number;
    bestValAccuracy: number;
    /** Age runs: the best epoch's validation MAE (years). */
    bestValMae?: number;
    wallSeconds: number;
    stopReason?: string;
    options: TrainOptions;
  };
  /** Ensembles (facecls ship run1 run2 ...): how the members combine and each member's training; `training` is member 0's. */
  ensemble?: { combine: string; members: Array<ModelCard['training']> };
  evaluation: {
    tta: 'none' | 'flip';
    runtime: string;
    val: CardEvaluation[];
    test: CardEvaluation[] | { withheld: true; note: string };
  };
  limitations: string[];
  files: { model: string; weights: string[]; onnx: string; sourceSha256: string };
}

const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * The `facecls train` command line that produces exactly these options: every option is written out
 * (defaults included), so the command still means the same thing if a default changes later.
 */
/**
 * A path as a model card records it: relative to the project root (the folder cards' commands run
 * from), so a card does not carry one machine's absolute paths. Relative inputs are kept.
 */
export function portablePath(p: string): string {
  if (!path.isAbsolute(p)) return p;
  return path.relative(projectRoot(), p) || '.';
}

export function trainCommand(o: TrainOptions, runDir: string): string {
  const a: string[] = [];
  if (o.backend) a.push('--backend', o.backend);
  a.push('train', o.task);
  if (o.sources?.length) {
    for (const src of o.sources) a.push('--data', portablePath(src.path));
    a.push('--data-weights', o.sources.map((src) => String(src.weight)).join(','));
  } else {
    a.push('--data', portablePath(o.data));
    if (o.format) a.push('--format', o.format);
  }
  a.push('--arch', o.arch, '--input', String(o.inputSize), '--channels', String(o.channels), '--epochs', String(o.epochs), '--batch-size', String(o.batchSize));
  const s = o.schedule;
  a.push('--schedule', s.name, '--lr', String(s.lr), '--min-lr', String(s.minLr), '--warmup', String(s.warmupEpochs), '--lr-factor', String(s.factor));
  a.push('--plateau-patience', String(s.patience), '--step-epochs', String(s.stepEpochs), '--early-stopping', String(o.earlyStopping));
  a.push('--label-smoothing', String(o.labelSmoothing), '--class-weights', Array.isArray(o.classWeights) ? o.classWeights.join(',') : o.classWeights);
  const g = o.augment;
  a.push('--augment', 'none', '--rotation', String(g.rotation), '--shift', String(g.shift), '--zoom', String(g.zoom), g.flip ? '--flip' : '--no-flip');
  a.push('--brightness', String(g.brightness), '--contrast', String(g.contrast), '--cutout', String(g.cutout));
  for (const [flag, v] of [
    ['--aspect', g.aspect],
    ['--gamma', g.gamma],
    ['--blur', g.blur],
    ['--noise', g.noise],
    ['--grey', g.grey],
    ['--jpeg', g.jpeg],
  ] as const)
    if (v) a.push(flag, String(v));
  a.push('--mixup', String(o.mixup));
  if (o.l2 !== undefined) a.push('--l2', String(o.l2));
  a.push('--seed', String(o.seed));
  if (o.splitSeed !== undefined) a.push('--split-seed', String(o.splitSeed));
  a.push('--val-fraction', String(o.valFraction), '--test-fraction', String(o.testFraction), '--crop-margin', String(o.cropMargin));
  a.push('--cache-mb', String(o.cacheMb));
  if (o.workers !== undefined) a.push('--workers', String(o.workers));
  a.push('--max-bad-fraction', String(o.maxBadFraction));
  if (o.trainLimit !== undefined) a.push('--train-limit', String(o.trainLimit));
  a.push('--precise-bn', String(o.preciseBnBatches));
  if (o.init) a.push('--init', portablePath(o.init));
  if (o.teacher)
    a.push('--teacher', portablePath(o.teacher), '--distill', String(o.distillWeight ?? 0.5), '--distill-temperature', String(o.distillTemperature ?? 2));
  a.push('--out', portablePath(runDir));
  return ['facecls', ...a].map(q).join(' ');
}

const pts = (a: number, b: number) => Math.round((a - b) * 10000) / 100;
const pool = (rows: GroupRow[]) => {
  const n = rows.reduce((s, r) => s + r.n, 0);
  return { n, acc: n ? rows.reduce((s, r) => s + r.correct, 0) / n : NaN };
};

/** Measured gaps between groups (points of accuracy); undefined when the data has no group metadata. */
export function groupGaps(r: EvalReport): GroupGaps | undefined {
  const g = r.groups;
  if (!g.gender && !g.ageBand && !g.race) return undefined;
  const out: GroupGaps = {};
  const w = g.gender?.find((x) => x.value === 'woman');
  const m = g.gender?.find((x) => x.value === 'man');
  if (w && m && w.n && m.n) out.menMinusWomen = pts(m.accuracy, w.accuracy);
  const races = (g.race ?? []).filter((x) => x.value !== 'unknown' && x.n >= 30);
  if (races.length) {
    const worst = races.reduce((a, b) => (b.accuracy < a.accuracy ? b : a));
    out.worstEthnicGroup = { value: worst.value, accuracy: worst.accuracy, belowOverall: pts(r.metrics.accuracy, worst.accuracy) };
  }
  if (g.ageBand) {
    const minors = pool(g.ageBand.filter((x) => ['0-2', '3-9', '10-17'].includes(x.value)));
    const adults = pool(g.ageBand.filter((x) => !['0-2', '3-9', '10-17', 'unknown'].includes(x.value)));
    if (minors.n && adults.n) {
      out.adultsMinusMinors = pts(adults.acc, minors.acc);
      out.minorsAccuracy = minors.acc;
    }
  }
  return out;
}

export function cardEvaluation(r: EvalReport, splitName: string): CardEvaluation {
  const m = r.metrics;
  const gaps = groupGaps(r);
  return {
    split: r.split as 'val' | 'test',
    splitName,
    adultsOnly: r.adultsOnly,
    n: m.n,
    accuracy: m.accuracy,
    balancedAccuracy: m.balancedAccuracy,
    macroF1: m.macroF1,
    perClass: m.perClass,
    labels: m.labels,
    confusion: m.confusion,
    groups: r.groups,
    ...(gaps ? { gaps } : {}),
    ...(r.age ? { age: cardAge(r.age) } : {}),
    skipped: r.skipped.count,
  };
}

/** A fraction as a percentage with two decimals ('n/a' when undefined). */
export const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
/** The heading of an evaluation: its split, and which ages it covers. */
export const evalTitle = (e: CardEvaluation) => `${e.splitName}${e.adultsOnly ? ', adults (age >= 18)' : e.groups.ageBand ? ', all ages' : ''}`;

/** Known limitations and biases: the dataset's documented ones plus what this model measured. */
export function limitations(task: string, format: string, trainClassCounts: Record<string, number>, evals: CardEvaluation[]): string[] {
  if (task === 'age') return ageLimitations(evals.map((e) => ({ age: e.age, title: evalTitle(e) })));
  const out: string[] = [];
  const total = Object.values(trainClassCounts).reduce((a, b) => a + b, 0);
  const main = evals.find((e) => !e.adultsOnly) ?? evals[0];
  if (format.startsWith('fer2013')) {
    out.push(
      'FER-2013 faces are 48x48 grey internet images, many posed or acted, found by keyword search: expressions in the wild (subtle, spontaneous, side views, occlusion) are harder than these figures suggest.',
    );
    out.push(
      'Some FER-2013 labels are wrong or ambiguous (Goodfellow et al. 2013 measured human accuracy on it at about 65 +/- 5%); no label cleaning was done.',
    );
  }
  if (format === 'utkface') {
    out.push(
      'UTKFace images are tight, aligned and cropped faces: other framings (a detector box, a loose crop) may score lower; the detection pipeline applies the crop margin stored in the model.',
    );
    out.push(
      'Gender is recorded in UTKFace as a binary label assigned by annotators; the model predicts apparent gender in those two classes only and says nothing about identity.',
    );
  }
  if (total > 0) {
    const entries = Object.entries(trainClassCounts).sort((a, b) => a[1] - b[1]);
    const [rare, nRare] = entries[0];
    const [common, nCommon] = entries[entries.length - 1];
    if (nCommon > 1.5 * nRare) {
      out.push(
        `Class imbalance in training: "${rare}" has ${nRare} images (${((100 * nRare) / total).toFixed(1)}%), "${common}" ${nCommon} (${((100 * nCommon) / total).toFixed(1)}%).`,
      );
    }
  }
  if (main) {
    const worst = main.perClass.filter((c) => c.support > 0).reduce((a, b) => (b.recall < a.recall ? b : a), main.perClass[0]);
    const disgust = task === 'emotion' && main.labels.includes('disgust');
    if (worst && !(disgust && worst.label === 'disgust'))
      out.push(
        `Weakest class on ${evalTitle(main)}: "${worst.label}" with recall ${pct(worst.recall)} and F1 ${worst.f1.toFixed(3)} (${worst.support} samples), against ${pct(main.accuracy)} overall.`,
      );
    if (disgust) {
      const d = main.perClass.find((c) => c.label === 'disgust')!;
      out.push(
        `"disgust" is rare (${trainClassCounts.disgust ?? 0} training images): its recall on ${evalTitle(main)} is ${pct(d.recall)} over ${d.support} samples, so its figures are noisy.`,
      );
    }
  }
  for (const e of evals) {
    const g = e.gaps;
    if (!g) continue;
    const parts: string[] = [];
    if (g.menMinusWomen !== undefined) parts.push(`men ${Math.abs(g.menMinusWomen).toFixed(2)} points ${g.menMinusWomen >= 0 ? 'above' : 'below'} women`);
    if (g.worstEthnicGroup)
      parts.push(
        `the weakest ethnic group ("${g.worstEthnicGroup.value}", ${pct(g.worstEthnicGroup.accuracy)}) ${g.worstEthnicGroup.belowOverall.toFixed(2)} points below overall`,
      );
    if (g.adultsMinusMinors !== undefined)
      parts.push(
        `under-18s at ${pct(g.minorsAccuracy!)}, ${g.adultsMinusMinors.toFixed(2)} points ${g.adultsMinusMinors >= 0 ? 'below' : 'above'} adults (children's faces carry fewer gender cues)`,
      );
    if (parts.length) out.push(`Measured on ${evalTitle(e)}: ${parts.join('; ')}.`);
  }
  return out;
}

/** One row of `facecls models`' shipped-models table. */
export interface ShippedModelRow {
  name: string;
  dir: string;
  task: string;
  arch: string;
  params: number | null;
  valAccuracy: number | null;
  testAccuracy: number | null;
  /** Adults only (age >= 18), where the data records ages. */
  valAdultsAccuracy: number | null;
  testAdultsAccuracy: number | null;
  /** Age models: MAE in years (all ages; adults). */
  valMae?: number | null;
  testMae?: number | null;
  valAdultsMae?: number | null;
  testAdultsMae?: number | null;
  /** "withheld" when the card withholds the test figures. */
  test: 'measured' | 'withheld' | 'none';
  status: string;
  /** How the pipeline picks it: 'fast' (models/<task>, the default), 'accurate' (models/<task>-accurate, --accurate), else undefined. */
  variant?: ModelVariant;
}

function firstAll(e: unknown): CardEvaluation | undefined {
  return Array.isArray(e) ? ((e as CardEvaluation[]).find((x) => !x.adultsOnly) ?? (e as CardEvaluation[])[0]) : undefined;
}

/**
 * The models in `modelsDir` (one folder each with a model-card.json: shipped by `facecls ship` or
 * imported by `facecls import keras`). A card that cannot be read is reported through `warn` and skipped.
 */
export function readShippedModels(modelsDir: string, warn: (msg: string) => void = () => {}): ShippedModelRow[] {
  if (!fs.existsSync(modelsDir) || !fs.statSync(modelsDir).isDirectory()) return [];
  const rows: ShippedModelRow[] = [];
  for (const name of fs.readdirSync(modelsDir).sort()) {
    const dir = path.join(modelsDir, name);
    const file = path.join(dir, MODEL_CARD_JSON);
    if (name.startsWith('.') || !fs.existsSync(file)) continue;
    let c: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      c = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (!c || typeof c !== 'object' || Array.isArray(c)) throw new Error('not a JSON object');
    } catch (err) {
      warn(`skipping "${file}": ${errorMessage(err)}`);
      continue;
    }
    const val = firstAll(c.evaluation?.val);
    const test = firstAll(c.evaluation?.test);
    const adults = (e: unknown) => (Array.isArray(e) ? (e as CardEvaluation[]).find((x) => x.adultsOnly) : undefined);
    const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
    const variant = MODEL_VARIANTS.find((v) => name === shippedModelName(String(c.task), v));
    rows.push({
      name,
      dir,
      task: String(c.task ?? '?'),
      arch: String(c.architecture?.arch ?? c.arch ?? '?'),
      params: num(c.architecture?.params ?? c.params?.total ?? c.params),
      valAccuracy: num(val?.accuracy),
      testAccuracy: num(test?.accuracy),
      valAdultsAccuracy: num(adults(c.evaluation?.val)?.accuracy),
      testAdultsAccuracy: num(adults(c.evaluation?.test)?.accuracy),
      ...(c.task === 'age'
        ? {
            valMae: num(val?.age?.mae),
            testMae: num(test?.age?.mae),
            valAdultsMae: num(adults(c.evaluation?.val)?.age?.mae),
            testAdultsMae: num(adults(c.evaluation?.test)?.age?.mae),
          }
        : {}),
      test: test ? 'measured' : c.evaluation?.test?.withheld ? 'withheld' : 'none',
      status: String(c.status ?? (c.imported ? 'imported' : '?')),
      ...(variant ? { variant } : {}),
    });
  }
  return rows;
}
