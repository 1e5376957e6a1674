/** `facecls eval emotion|gender|age --model M --data PATH --split S [--tta flip] [--adults] [--json] [--out DIR]`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { writeFileAtomic } from '../../io/fs-handler.js';
import { RUNTIME_OPTION_HELP } from '../../runtime/options.js';
import { DATASET_FORMATS, parseSplitName } from '../../data/load.js';
import type { DatasetFormat } from '../../data/dataset.js';
import { evaluate, type EvalReport, type EvaluateOptions } from '../../eval/evaluate.js';
import type { GroupRow } from '../../eval/group-metrics.js';
import { confusionPng, confusionText } from '../../eval/heatmap.js';
import { fmt, formatTable, printJson } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';
import { countProgress } from '../../train/progress.js';
import { CROP_FRAMINGS, type CropFraming } from '../../pipeline/crop-framing.js';
import { TASKS } from './train.js';
import { formatAgeMetrics } from '../age-report.js';
import { agePlotPng } from '../../eval/age-plot.js';
import { evalDetect, type EvalDetectCliOptions } from './eval-detect.js';

interface EvalCliOptions extends Omit<EvalDetectCliOptions, 'json' | 'out' | 'limit' | 'format' | 'data'> {
  model?: string;
  data: string;
  split: string;
  format?: string;
  tta?: string;
  adults: boolean;
  json: boolean;
  out?: string;
  runtime?: string;
  batchSize: string;
  cropMargin?: string;
  seed?: string;
  valFraction?: string;
  testFraction?: string;
  limit?: string;
  maxBadFraction: string;
  framing: string;
  recut?: string;
  recutRotation?: string;
  align: boolean;
}

const pct = (x: number) => `${fmt(x * 100, 2)}%`;

export function parseFraming(v: string): CropFraming {
  if (!(CROP_FRAMINGS as readonly string[]).includes(v)) throw new UserError(`--framing must be one of ${CROP_FRAMINGS.join(', ')}, got "${v}"`);
  return v as CropFraming;
}

export function formatReport(r: EvalReport): string {
  const m = r.metrics;
  const lines: string[] = [];
  lines.push(
    `model ${r.model} (${r.task}${r.arch ? `, ${r.arch}` : ''}) on ${r.format} ${r.data}, split ${r.split}${r.adultsOnly ? ' (adults, age >= 18)' : ''}`,
  );
  lines.push(`split: ${r.splitMethod}`);
  lines.push(`runtime ${r.runtime}, TTA ${r.tta}, crop margin ${r.cropMargin}; ${m.n} images in ${fmt(r.seconds, 1)} s (${fmt(r.imagesPerSecond, 0)}/s)`);
  if (r.framing && (r.framing.mode !== 'whole' || r.framing.recutSeed !== undefined)) {
    lines.push(
      `framing ${r.framing.mode}${r.framing.located !== undefined ? ` (face found in ${r.framing.located} of ${m.n} crops${r.framing.align ? ', eyes levelled' : ''})` : ''}` +
        (r.framing.recutSeed !== undefined
          ? `; crops re-cut with seed ${r.framing.recutSeed}${r.framing.recutRotation ? `, tilted up to ${r.framing.recutRotation} degrees` : ''}`
          : ''),
    );
  }
  lines.push('');
  if (r.age) return [...lines, ...formatAgeMetrics(r.age), ...badLines(r)].join('\n');
  lines.push(`accuracy ${pct(m.accuracy)} (${m.correct}/${m.n}), balanced accuracy ${pct(m.balancedAccuracy)}, macro F1 ${fmt(m.macroF1, 4)}`);
  lines.push('');
  lines.push(
    formatTable(m.perClass, [
      { header: 'class', value: (c) => c.label },
      { header: 'precision', value: (c) => fmt(c.precision, 4), align: 'right' },
      { header: 'recall', value: (c) => fmt(c.recall, 4), align: 'right' },
      { header: 'F1', value: (c) => fmt(c.f1, 4), align: 'right' },
      { header: 'support', value: (c) => c.support, align: 'right' },
    ]),
  );
  lines.push('');
  lines.push('confusion matrix (rows = true, columns = predicted):');
  lines.push(confusionText(m.confusion, m.labels));
  const groups: Array<[string, GroupRow[] | undefined]> = [
    ['gender', r.groups.gender],
    ['age band', r.groups.ageBand],
    ['ethnic group', r.groups.race],
  ];
  for (const [name, rows] of groups) {
    if (!rows?.length) continue;
    lines.push('');
    lines.push(
      formatTable(rows, [
        { header: name, value: (g) => g.value },
        { header: 'accuracy', value: (g) => pct(g.accuracy), align: 'right' },
        { header: 'correct', value: (g) => g.correct, align: 'right' },
        { header: 'n', value: (g) => g.n, align: 'right' },
      ]),
    );
  }
  return [...lines, ...badLines(r)].join('\n');
}

/** The malformed / unreadable notes at the end of a report. */
function badLines(r: EvalReport): string[] {
  const lines: string[] = [];
  if (r.malformed?.count) {
    lines.push('');
    lines.push(
      `malformed: ${r.malformed.count} of ${r.malformed.of} dataset entries (all splits) skipped while indexing, e.g. ${r.malformed.examples[0].id}: ${r.malformed.examples[0].reason}`,
    );
  }
  if (r.skipped.count) {
    lines.push('');
    lines.push(`skipped ${r.skipped.count} unreadable images, e.g. ${r.skipped.examples[0].id}: ${r.skipped.examples[0].reason}`);
  }
  return lines;
}

/** Write report.json, report.txt and confusion.txt + confusion.png (age: age.png, predicted against true age) into `dir`. */
export async function writeReport(r: EvalReport, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'report.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'report.txt'), formatReport(r) + '\n');
  if (r.age) {
    const title = `age - ${r.split}${r.adultsOnly ? ' (adults)' : ''}: MAE ${fmt(r.age.mae, 2)} years (n ${r.age.n})`;
    writeFileAtomic(path.join(dir, 'age.png'), await agePlotPng(r.age, title));
    return;
  }
  writeFileAtomic(path.join(dir, 'confusion.txt'), confusionText(r.metrics.confusion, r.metrics.labels) + '\n');
  const title = `${r.task} - ${r.split}${r.adultsOnly ? ' (adults)' : ''}: accuracy ${pct(r.metrics.accuracy)}`;
  writeFileAtomic(path.join(dir, 'confusion.png'), await confusionPng(r.metrics.confusion, r.metrics.labels, title));
}

/** The evaluate() options the command line asks for (the model, data and progress bar aside). */
function evaluateOptions(task: string, o: EvalCliOptions, backend: string | undefined): Omit<EvaluateOptions, 'model' | 'data'> {
  if (o.tta !== undefined && o.tta !== 'none' && o.tta !== 'flip') throw new UserError(`--tta must be none or flip, got "${o.tta}"`);
  if (o.format !== undefined && !DATASET_FORMATS.includes(o.format as DatasetFormat))
    throw new UserError(`--format must be one of ${DATASET_FORMATS.join(', ')}, got "${o.format}"`);
  return {
    split: parseSplitName(o.split),
    ...(o.format ? { format: o.format as DatasetFormat } : {}),
    tta: o.tta as 'none' | 'flip' | undefined,
    adults: o.adults,
    runtime: o.runtime,
    backend,
    batchSize: parseIntOption(o.batchSize, '--batch-size', 1, 4096),
    ...(o.cropMargin !== undefined ? { cropMargin: parseFloatOption(o.cropMargin, '--crop-margin', -0.4, 2) } : {}),
    ...(o.seed !== undefined ? { splitSeed: parseIntOption(o.seed, '--seed', 0, 2 ** 32 - 1) } : {}),
    ...(o.valFraction !== undefined ? { valFraction: parseFloatOption(o.valFraction, '--val-fraction', 0, 0.5) } : {}),
    ...(o.testFraction !== undefined ? { testFraction: parseFloatOption(o.testFraction, '--test-fraction', 0, 0.5) } : {}),
    ...(o.limit !== undefined ? { limit: parseIntOption(o.limit, '--limit', 1) } : {}),
    maxBadFraction: parseFloatOption(o.maxBadFraction, '--max-bad-fraction', 0, 1),
    framing: parseFraming(o.framing),
    ...(o.recut !== undefined
      ? {
          recutSeed: parseIntOption(o.recut, '--recut', 0, 2 ** 32 - 1),
          recutRotation: parseFloatOption(o.recutRotation ?? '0', '--recut-rotation', 0, 90),
        }
      : {}),
    align: o.align,
    expectTask: task,
  };
}

/** `facecls eval <task>` for a classifier: evaluate with a progress bar, then print and write the report. */
async function evalClassifier(task: string, o: EvalCliOptions, backend: string | undefined): Promise<void> {
  if (!TASKS.includes(task as never)) throw new UserError(`unknown task "${task}": choose one of ${TASKS.join(', ')}, detect`);
  if (!o.model) throw new UserError(`eval ${task} needs --model <dir>`);
  // Several comma-separated models are an ensemble.
  const models = o.model
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const options = evaluateOptions(task, o, backend);
  let bar: ReturnType<typeof countProgress> | undefined;
  let report;
  try {
    report = await evaluate({
      ...options,
      onProgress: (done, total) => {
        bar ??= countProgress('evaluating', total, !o.json);
        bar.update(done);
        if (done === total) bar.stop();
      },
      model: o.model.includes(',') ? models : o.model,
      data: path.resolve(o.data),
    });
  } finally {
    bar?.stop();
  }
  if (o.out) await writeReport(report, path.resolve(o.out));
  if (o.json) printJson(report);
  else {
    console.log(formatReport(report));
    if (o.out) console.log(`\nreport written to ${path.resolve(o.out)} (report.json, report.txt, ${report.age ? 'age.png' : 'confusion.txt, confusion.png'})`);
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description(
      'evaluate a model on a dataset split: accuracy, per-class P/R/F1, confusion matrix, per-group accuracy; or (detect) a face detector on labelled photos: AP per subset, precision/recall, PR curve, ms per image',
    )
    .argument('<task>', `emotion, gender, age or custom (must match the model), or detect`)
    .option('--model <dir>', 'model folder (facecls format); several, comma-separated, evaluate their averaged ensemble (required unless the task is detect)')
    .requiredOption('--data <path>', 'dataset (same layouts as train; for detect: WIDER FACE boxes.csv + images/, or FDDB ellipse lists)')
    .option('--split <name>', 'train, val (FER-2013 PublicTest) or test (PrivateTest)', 'test')
    .option('--format <name>', `dataset layout, detected when omitted: ${DATASET_FORMATS.join(', ')}`)
    .option(
      '--tta <mode>',
      "test-time augmentation: none or flip (average with the mirror image); default the model's (flip for models shipped with --tta flip)",
    )
    .option('--adults', 'only samples with a known age >= 18 (UTKFace, IMDB-WIKI)', false)
    .option('--json', 'print the report as JSON', false)
    .option('--out <dir>', 'write report.json, report.txt, confusion.txt and confusion.png here')
    .option('--runtime <name>', RUNTIME_OPTION_HELP)
    .option('--batch-size <n>', 'inference batch size', '64')
    .option('--crop-margin <f>', 'crop margin (default: the one the model was trained with)')
    .option('--seed <n>', "split seed for datasets without an official split (default: the model's)")
    .option('--val-fraction <f>', "validation fraction of that split (default: the model's)")
    .option('--test-fraction <f>', "test fraction of that split (default: the model's)")
    .option('--limit <n>', 'evaluate only n evenly spaced samples of the split (quick checks)')
    .option(
      '--max-bad-fraction <f>',
      "fail when more than this fraction of the dataset's entries is malformed (bad CSV rows, file names), or of the split's images unreadable",
      '0.05',
    )
    .option(
      '--framing <mode>',
      'whole: each image as the dataset cuts it (as in training); detect: the face found in it, framed as classify --crops does',
      'whole',
    )
    .option('--recut <seed>', 'framing stress: cut every image again (looser or tighter, not square, off-centre; seeded) before framing')
    .option('--recut-rotation <deg>', 'with --recut: also tilt each face by up to this many degrees', '0')
    .option('--align', "with --framing detect: level the eyes of each face found (as the pipeline's --align)", false)
    .option('--detector <name>', 'detect: face detector (blazeface, haar)', 'blazeface')
    .option('--tiles <mode>', 'detect: BlazeFace tiles for small faces: auto, always, off', 'auto')
    .option('--score-threshold <p>', "detect: operating threshold for precision/recall (default the detector's)")
    .option('--min-score <p>', 'detect: lowest detection score kept for the precision-recall curve and AP', '0.05')
    .option('--iou <f>', 'detect: IoU for a detection to match a face', '0.5')
    .option('--at-recall <r>', 'detect: also report the precision at this recall (e.g. 0.818)')
    .action(async (task: string, o: EvalCliOptions, cmd: Command) => {
      const backend = cmd.optsWithGlobals().backend as string | undefined;
      return task === 'detect' ? evalDetect(o, backend) : evalClassifier(task, o, backend);
    });
}
