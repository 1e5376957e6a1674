/**
 * `facecls classify <files|dirs|globs...>`: every face of every image with box, detector score,
 * emotion, gender and age. Output: table (default), JSON Lines (--json, one object per input file) or CSV
 * (--csv, one row per face; the age columns last). A file that fails gets an error entry and the batch continues; the exit
 * code is 1 when any input failed.
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { UserError } from '../../errors.js';
import { FaceClassifier } from '../../pipeline/face-classifier.js';
import { classifyFile, type FileResult } from '../../pipeline/file-result.js';
import { formatAge } from '../../core/age.js';
import { expandInputs } from '../../inputs/expand.js';
import { csvHeader, csvRows } from '../../output/csv.js';
import { FILES_FROM_HELP, inputItems } from '../files-from.js';
import { fmt, formatTable } from '../output.js';
import {
  addDetectorOptions,
  addInputFileOptions,
  addPipelineOptions,
  classifierOptions,
  inputFileOptions,
  type InputFileCliOptions,
  type PipelineCliOptions,
} from '../pipeline-options.js';

export type { FileResult, InputItem } from '../../pipeline/file-result.js';
export { csvHeader, csvRows } from '../../output/csv.js';

type Row = Record<string, string>;
type Face = NonNullable<FileResult['faces']>[number];

/**
 * A table of one row per face (file, face index, box, score, then `cells`), or per file without faces
 * one row saying why, in the column `reasonColumn`.
 */
function faceTable(results: FileResult[], columns: Array<[key: string, header: string]>, reasonColumn: string, cells: (f: Face) => Row) {
  const rows: Row[] = [];
  const empty = Object.fromEntries(columns.map(([k]) => [k, '']));
  for (const r of results) {
    if (r.error) rows.push({ ...empty, file: r.file, face: '-', [reasonColumn]: `error: ${r.error}` });
    else if (!r.faces?.length) rows.push({ ...empty, file: r.file, face: '-', [reasonColumn]: 'no faces' });
    else
      r.faces.forEach((f, i) =>
        rows.push({ file: r.file, face: String(i), box: f.box.map((v) => Math.round(v)).join(','), score: fmt(f.score, 2), ...cells(f) }),
      );
  }
  return formatTable(
    rows,
    columns.map(([k, header]) => ({ header, value: (r: Row) => r[k] })),
  );
}

const BASE_COLUMNS: Array<[string, string]> = [
  ['file', 'file'],
  ['face', 'face'],
  ['box', 'box'],
  ['score', 'score'],
];

function tableRows(results: FileResult[], detectOnly: boolean, age: boolean) {
  const pt = (p?: [number, number]) => (p ? p.map((v) => Math.round(v)).join(',') : '');
  if (detectOnly) {
    return faceTable(results, [...BASE_COLUMNS, ['eyes', 'eyes (right, left)']], 'box', (f) => ({
      eyes: f.keypoints ? `${pt(f.keypoints.rightEye)} ${pt(f.keypoints.leftEye)}` : '',
    }));
  }
  const columns: Array<[string, string]> = [
    ...BASE_COLUMNS,
    ['emotion', 'emotion'],
    ['gender', 'gender'],
    ...(age ? [['age', 'age'] as [string, string]] : []),
  ];
  return faceTable(results, columns, 'emotion', (f) => ({
    emotion: f.emotion ? `${f.emotion.label} ${fmt(f.emotion.scores[f.emotion.label], 2)}` : '',
    gender: f.gender ? `${f.gender.label} ${fmt(f.gender.scores[f.gender.label], 2)}` : '',
    age: f.age ? formatAge(f.age) : '',
  }));
}

/** Write to stdout, waiting when its buffer is full (a slow pipe must not make output pile up in memory). */
async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

type ClassifyCliOptions = PipelineCliOptions & InputFileCliOptions & { json: boolean; csv: boolean; crops: boolean; progress?: boolean; filesFrom?: string };

export function registerClassify(program: Command): void {
  registerImageCommand(program, 'classify');
  registerImageCommand(program, 'detect');
}

/**
 * `classify` (detect + emotion + gender + age; with --no-emotion --no-gender --no-age detection only) and `detect`
 * (detection only: boxes, scores, keypoints), one code path.
 */
function registerImageCommand(program: Command, name: 'classify' | 'detect'): void {
  const detectCommand = name === 'detect';
  const cmd = program
    .command(name)
    .description(
      detectCommand
        ? 'detect faces in images (files, directories, globs, URLs, --files-from lists): boxes, scores and eye/nose/mouth/ear keypoints, no classification'
        : 'detect faces, classify emotion and gender and estimate age in images (files, directories, globs, URLs, --files-from lists); with --no-emotion --no-gender --no-age, detection only',
    )
    .argument('[inputs...]', 'image files, directories (searched recursively), globs or http(s) URLs')
    .option('--files-from <file|->', FILES_FROM_HELP)
    .option('--json', 'JSON Lines: one object per input file', false)
    .option('--csv', 'CSV: one row per face', false)

    .option('--progress', 'show a progress bar on stderr (default: when stderr is a terminal and there are several files)')
    .option('--no-progress', 'never show a progress bar');
  if (detectCommand) addInputFileOptions(addDetectorOptions(cmd));
  else addInputFileOptions(addPipelineOptions(cmd.option('--crops', 'inputs are already face crops: skip detection, classify each whole image', false)));
  cmd.action(async (inputs: string[], o: ClassifyCliOptions, c: Command) => {
    if (o.json && o.csv) throw new UserError('choose one of --json and --csv');
    if (inputs.length === 0 && o.filesFrom === undefined) throw new UserError('no inputs: give image files, directories or globs, or --files-from <file|->');
    if (detectCommand) Object.assign(o, { emotion: false, gender: false, age: false });
    const detectOnly = !o.emotion && !o.gender && o.age === false;
    if (detectOnly && o.crops) throw new UserError('--crops with --no-emotion --no-gender --no-age leaves nothing to do');
    const fileOpts = inputFileOptions(o);
    const fc = await FaceClassifier.load({ ...classifierOptions(o, c.optsWithGlobals().backend), ...fileOpts });
    const emotionLabels = fc.emotion?.meta.labels ?? [];
    const genderLabels = fc.gender?.meta.labels ?? [];
    const age = fc.age !== undefined;
    // With a list the total is unknown until its end: the bar then counts without an estimate.
    const streaming = o.filesFrom !== undefined;
    const showBar = o.progress ?? (process.stderr.isTTY === true && (streaming || inputs.length > 1));
    const format = streaming ? 'classify {value} files | {failed} failed' : 'classify [{bar}] {value}/{total} files | {eta_formatted} left | {failed} failed';
    const bar = showBar
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format, hideCursor: true, noTTYOutput: true, notTTYSchedule: 2000 },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    let failed = 0;
    let total = 0;
    const table: FileResult[] = [];
    try {
      // Arguments are expanded up front (so the bar knows its total); a list streams.
      const fromArgs = streaming ? undefined : expandInputs(inputs);
      if (o.csv) await writeOut(csvHeader(emotionLabels, genderLabels, detectOnly, age) + '\n');
      bar?.start(fromArgs?.length ?? 0, 0, { failed: 0 });
      for await (const item of fromArgs ?? inputItems(inputs, o.filesFrom)) {
        total++;
        // Any failure is reported against its file; the batch goes on.
        const r: FileResult = await classifyFile(fc, item, { crop: o.crops === true, detectOnly });
        if (r.error) {
          failed++;
          // With --json/--csv the error is in the file's record.
          if (!o.json && !o.csv) {
            if (bar) bar.update({ failed });
            else process.stderr.write(`facecls: ${r.file}: ${r.error}\n`);
          }
        }
        if (o.json) await writeOut(JSON.stringify(r) + '\n');
        else if (o.csv) await writeOut(csvRows(r, emotionLabels, genderLabels, detectOnly, age).join('\n') + '\n');
        else table.push(r);
        if (streaming) bar?.setTotal(total);
        bar?.increment(1, { failed });
      }
    } finally {
      bar?.stop();
      await fc.dispose();
    }
    if (!o.json && !o.csv) console.log(tableRows(table, detectOnly, age));
    if (failed > 0) {
      process.stderr.write(`facecls: ${failed} of ${total} input(s) failed\n`);
      process.exitCode = 1;
    }
  });
}
