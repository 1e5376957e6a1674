/**
 * Model cards for shipped models (`facecls ship`): the JSON card (model-card.json), its Markdown
 * rendering (MODEL_CARD.md), the `facecls train` command reconstructed from a run's config.json,
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
import { ageLimitations, ageMarkdown, cardAge, type CardAge } from './age-card.js';

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

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
const evalTitle = (e: CardEvaluation) => `${e.splitName}${e.adultsOnly ? ', adults (age >= 18)' : e.groups.ageBand ? ', all ages' : ''}`;

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

function mdTable(head: string[], rows: Array<Array<string | number>>, right: boolean[] = []): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (right[i] ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function evalMarkdown(e: CardEvaluation): string[] {
  const lines = [`### ${evalTitle(e)}`, ''];
  if (e.age) return [...lines, ...ageMarkdown(e.age, e.skipped, e.split, e.adultsOnly)];
  lines.push(
    `Accuracy **${pct(e.accuracy)}** on ${e.n} images; balanced accuracy ${pct(e.balancedAccuracy)}; macro F1 ${e.macroF1.toFixed(4)}${e.skipped ? `; ${e.skipped} unreadable images skipped` : ''}.`,
    '',
  );
  lines.push(
    ...mdTable(
      ['class', 'precision', 'recall', 'F1', 'support'],
      e.perClass.map((c) => [c.label, c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), c.support]),
      [false, true, true, true, true],
    ),
    '',
  );
  lines.push('Confusion matrix (rows = true class, columns = predicted):', '');
  lines.push(
    ...mdTable(
      ['true \\ predicted', ...e.labels],
      e.confusion.map((row, i) => [e.labels[i], ...row]),
      [false, ...e.labels.map(() => true)],
    ),
    '',
  );
  for (const [name, rows] of [
    ['gender', e.groups.gender],
    ['age band', e.groups.ageBand],
    ['ethnic group', e.groups.race],
  ] as const) {
    if (!rows?.length) continue;
    lines.push(
      ...mdTable(
        [name, 'accuracy', 'correct', 'n'],
        rows.map((g) => [g.value, pct(g.accuracy), g.correct, g.n]),
        [false, true, true, true],
      ),
      '',
    );
  }
  return lines;
}

export function modelCardMarkdown(c: ModelCard): string {
  const a = c.architecture;
  const t = c.training;
  const L: string[] = [`# Model card: ${c.name} (${c.task})`, ''];
  // Only a run still training has better weights to come; a finished one shipped without --final lacks only the test figures.
  const inProgress = c.status.startsWith('interim: training in progress');
  L.push(
    `**Status: ${c.status}.**${inProgress ? ` The weights are the best so far by ${c.task === 'age' ? 'validation MAE' : 'validation loss'}; they will be replaced when training ends.` : ''}`,
    '',
  );
  L.push(
    `Shipped by \`facecls ship\` on ${c.shippedAt} from the training run${c.ensemble ? `s ${c.ensemble.members.map((m) => `\`${m.runDir}\``).join(', ')} (an ensemble)` : ` \`${t.runDir}\``}.`,
    '',
  );
  L.push(
    ...mdTable(
      ['', ''],
      [
        [
          'Task',
          c.task === 'age'
            ? `age: probabilities over the anchor ages ${c.labels.join(', ')} (output order); the estimate is their expectation (src/data/age.ts)`
            : `${c.task}: ${c.labels.join(', ')} (output order)`,
        ],
        ['Architecture', a.arch],
        ['Parameters', `${a.params.toLocaleString('en-US')} (${a.trainableParams.toLocaleString('en-US')} trainable)`],
        ['Multiply-accumulates per image', a.macs.toLocaleString('en-US')],
        ['Weights', `${(a.weightBytes / 1024).toFixed(1)} KiB (float32); ONNX: ${c.files.onnx}`],
        ['Input', `${c.input.size}x${c.input.size}x${c.input.channels} (${c.input.colorSpace}), scaled to [${c.input.range.join(', ')}]`],
        ['Preprocessing', `${c.input.preprocess}; crop margin ${c.input.cropMargin} per side`],
      ],
    ),
    '',
  );
  if (c.notes?.length) L.push('## Notes', '', ...c.notes.map((n) => `- ${n}`), '');
  L.push('## Data and split', '');
  if (c.data.sources?.length) {
    L.push(`- Datasets (trained on at once; validation per dataset, the best epoch chosen by the mean of their validation losses):`);
    for (const d of c.data.sources)
      L.push(
        `  - ${d.name}: ${d.format} at \`${d.root}\`, sampling weight ${d.weight}; ${d.splitMethod}; ${Object.entries(d.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
  } else L.push(`- Dataset: ${c.data.format} at \`${c.data.root}\``);
  L.push(`- Split: ${c.data.splitMethod}${c.data.seed !== undefined && !c.data.splitMethod.includes('seed') ? ` (seed ${c.data.seed})` : ''}`);
  L.push(
    `- Counts: ${Object.entries(c.data.counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}${c.data.trainLimit !== undefined ? ` (training used a seeded subset of ${c.data.trainLimit})` : ''}`,
  );
  L.push(
    `- Training images per ${c.task === 'age' ? 'nearest anchor age' : 'class'}: ${Object.entries(c.data.trainClassCounts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  L.push(`- Model selection: ${c.data.selection}`);
  L.push(`- Test: ${c.data.test}`, '');
  L.push('## Training', '');
  const members = c.ensemble?.members ?? [t];
  if (c.ensemble)
    L.push(
      `An ensemble of ${members.length} separately trained models: ${c.ensemble.combine}. Each member, run from the project root (paths in this card are relative to it):`,
      '',
    );
  else L.push('Run from the project root (paths in this card are relative to it):', '');
  for (const [i, m] of members.entries()) {
    if (c.ensemble) L.push(`### Member ${i + 1}: \`${m.runDir}\``, '');
    L.push('```sh', m.command, '```', '');
    L.push(`- ${m.resumeNote}`);
    L.push(
      `- Epochs: ${m.epochsRun} run of ${m.epochsPlanned} planned${m.stopReason ? ` (stopped: ${m.stopReason})` : ''}; best epoch ${m.bestEpoch} (validation loss ${m.bestValLoss.toFixed(4)}, ${m.bestValMae !== undefined ? `MAE ${m.bestValMae.toFixed(3)} years` : `accuracy ${pct(m.bestValAccuracy)}`})`,
    );
    L.push(`- Wall time: ${(m.wallSeconds / 3600).toFixed(2)} h (${m.wallSeconds.toFixed(0)} s, sum of the epoch times in log.csv)`);
    if (c.ensemble) L.push('');
  }
  if (c.ensemble && c.calibration) L.push('### Calibration of the ensemble', '');
  if (c.calibration) {
    const k = c.calibration;
    const rec = (r: number[]) => r.map((x, i) => `${c.labels[i]} ${pct(x)}`).join(', ');
    L.push(
      `- Calibration (\`facecls ship --balance ${k.criterion ?? 'accuracy'}\`): ${k.method}, chosen on the ${k.split}: logit offsets ${k.offsets.map((x) => x.toFixed(2)).join(' / ')} ` +
        `(folded into the last convolution's bias${c.ensemble ? ' of every member' : ''}). On that split: recalls ${rec(k.before.recalls)} before, ${rec(k.after.recalls)} after; ` +
        `accuracy ${pct(k.before.accuracy)} -> ${pct(k.after.accuracy)}. Validation figures below are therefore optimistic; the test split was not used.`,
    );
  }
  L.push('');
  L.push('## Evaluation', '');
  L.push(
    `Runtime ${c.evaluation.runtime}, test-time augmentation: ${c.evaluation.tta === 'flip' ? 'horizontal flip (average of the image and its mirror)' : 'none'}. Every image goes through the same \`preprocessFace\` as training and the pipeline.`,
    '',
  );
  for (const e of c.evaluation.val) L.push(...evalMarkdown(e));
  if (Array.isArray(c.evaluation.test)) for (const e of c.evaluation.test) L.push(...evalMarkdown(e));
  else L.push('### Test split', '', `**${c.evaluation.test.note}**`, '');
  L.push('## Known limitations and biases', '', ...c.limitations.map((l) => `- ${l}`), '');
  L.push('## Files', '', `- \`${c.files.model}\` + ${c.files.weights.map((w) => `\`${w}\``).join(', ')}: tfjs-layers model with facecls metadata`);
  L.push(`- \`${c.files.onnx}\`: ONNX export of exactly those weights (source SHA-256 ${c.files.sourceSha256}), used by the onnx runtime while it matches`);
  L.push(`- \`${MODEL_CARD_JSON}\`: this card as JSON`, '');
  return L.join('\n');
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
