/**
 * `facecls saliency <image> -o out.png`: what the emotion or gender network looks at, for every face.
 * Finds and classifies the faces exactly as `facecls classify` does (src/pipeline/explainer.ts: same
 * detector, crop rule with eye levelling, runtime and test-time augmentation), explains the class
 * classify predicts (or --class), and writes one PNG with a row per face: crop, map, overlay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { formatAge } from '../../core/age.js';
import { CLASSIFIER_TASKS, type AgeEstimate, type ClassifierTask } from '../../core/types.js';
import type { Box } from '../../data/preprocess.js';
import { parseDetectorName } from '../../detect/types.js';
import { setupBackend } from '../../engine/backend.js';
import { UserError } from '../../errors.js';
import { checkOutputFile, MODEL_JSON, writeFileAtomic } from '../../io/fs-handler.js';
import { Explainer } from '../../pipeline/explainer.js';
import { defaultModelDir, FaceClassifier } from '../../pipeline/face-classifier.js';
import { parseRuntimeOption } from '../../runtime/options.js';
import { parseTtaOption } from '../../runtime/tta.js';
import { COLORMAPS, type ColormapName } from '../../viz/colormap.js';
import { explainedPanel } from '../../viz/explain.js';
import { isSaliencyMethod, SALIENCY_METHODS, type SaliencyMethod } from '../../viz/saliency.js';
import { addInputFileOptions, detectorOption, inputFileOptions, marginOption, minFaceSizeOption, runtimeOption, ttaOption } from '../pipeline-options.js';
import { fmt, printJson } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';

interface SaliencyCliOptions {
  output: string;
  task: string;
  class?: string;
  method: string;
  score: string;
  crops: boolean;
  model?: string;
  detector: string;
  margin?: string;
  maxFaces: string;
  minFaceSize?: string;
  cell: string;
  colormap: string;
  camLayer?: string;
  json: boolean;
  /** --task given explicitly (then a --model of another task is an error). */
  taskExplicit?: boolean;
  maxBytes?: string;
  allowSpecialFiles?: boolean;
  runtime?: string;
  tta?: string;
  align?: boolean;
}

export interface SaliencyCommandResult {
  image: string;
  output: string;
  task: string;
  method: SaliencyMethod;
  score: string;
  backend: string;
  /**
   * Per face: the detector box (as `classify` reports it), the crop the classifier saw (box grown by
   * the margin, turned by `angle` when the eyes were levelled), the class explained and the
   * classifier's prediction (with its test-time augmentation, as `classify` reports it).
   */
  faces: Array<{
    box: Box;
    crop: { box: Box; angle?: number };
    class: string;
    probability: number;
    predicted: string;
    probabilities: Record<string, number>;
    /** Age task: the estimate classify reports; `explains` 'expected-age' when the map explains it (no --class). */
    age?: AgeEstimate;
    explains?: 'expected-age';
  }>;
  ms: number;
}

function validate(o: SaliencyCliOptions): void {
  if (!o.output) throw new UserError('missing -o/--output <png>');
  if (!(CLASSIFIER_TASKS as readonly string[]).includes(o.task)) throw new UserError(`unknown task "${o.task}": choose ${CLASSIFIER_TASKS.join(', ')}`);
  if (!isSaliencyMethod(o.method)) throw new UserError(`unknown method "${o.method}": choose one of ${SALIENCY_METHODS.join(', ')}`);
  if (o.score !== 'logit' && o.score !== 'probability') throw new UserError(`unknown score "${o.score}": choose logit or probability`);
  if (!(COLORMAPS as readonly string[]).includes(o.colormap)) throw new UserError(`unknown colormap "${o.colormap}": choose one of ${COLORMAPS.join(', ')}`);
  if (!o.crops) parseDetectorName(o.detector);
  if (path.extname(o.output).toLowerCase() !== '.png') throw new UserError(`output "${o.output}" must be a .png file`);
}

/** The task's model directory, checked before anything loads. */
function modelDirOf(o: SaliencyCliOptions, task: ClassifierTask): string {
  const dir = o.model ?? defaultModelDir(task);
  const problem = !fs.existsSync(dir)
    ? `model "${dir}" does not exist`
    : !fs.existsSync(path.join(dir, MODEL_JSON))
      ? `model "${dir}" has no ${MODEL_JSON}`
      : undefined;
  if (problem && o.model === undefined) throw new UserError(`no ${task} model at "${dir}": train one or pass --model <dir> (${problem})`);
  if (problem) throw new UserError(problem);
  return dir;
}

/** The classifier `classify` would run for this task (same detector, crop rule, runtime and TTA), the other tasks off. */
async function loadClassifier(o: SaliencyCliOptions, task: ClassifierTask, backend: string | undefined): Promise<FaceClassifier> {
  const fileOpts = inputFileOptions(o);
  const dir = modelDirOf(o, task);
  return FaceClassifier.load({
    emotion: task === 'emotion',
    gender: task === 'gender',
    age: task === 'age',
    [`${task}Model`]: dir,
    detector: o.crops ? undefined : parseDetectorName(o.detector),
    runtime: o.runtime === undefined ? undefined : parseRuntimeOption(o.runtime, '--runtime'),
    tta: parseTtaOption(o.tta, '--tta'),
    backend,
    cropMargin: o.margin === undefined ? undefined : parseFloatOption(o.margin, '--margin', -0.4, 2),
    minFaceSize: o.minFaceSize === undefined ? undefined : parseFloatOption(o.minFaceSize, '--min-face-size', 0),
    maxFaces: parseIntOption(o.maxFaces, '--max-faces', 1, 1000),
    align: o.align !== false,
    ...fileOpts,
  });
}

const round1 = (b: Box): Box => b.map((v) => Math.round(v * 10) / 10) as Box;

export async function runSaliencyCommand(image: string, o: SaliencyCliOptions, backendOpt?: string): Promise<SaliencyCommandResult> {
  validate(o);
  const task = o.task as ClassifierTask;
  const cell = parseIntOption(o.cell, '--cell', 32, 1024);
  checkOutputFile(o.output);
  const backend = await setupBackend(backendOpt);
  const t0 = performance.now();
  const fc = await loadClassifier(o, task, backendOpt);
  let explainer: Explainer | undefined;
  try {
    const meta = fc[task]!.meta;
    if (o.model !== undefined && o.taskExplicit && meta.task !== 'custom' && meta.task !== task) {
      throw new UserError(`model "${o.model}" is for the ${meta.task} task, not ${task} (drop --task or pass another --model)`);
    }
    explainer = await Explainer.load(fc, task);
    const img = await fc.decode(image, image);
    const method = o.method as SaliencyMethod;
    const { faces, explained } = await explainer.explainImage(img, {
      method,
      className: o.class,
      score: o.score as 'logit' | 'probability',
      camLayer: o.camLayer,
      crop: o.crops,
    });
    const png = await explainedPanel(img, explained, explainer.grad.meta, method, {
      cell,
      colormap: o.colormap as ColormapName,
      emptyText: `no faces found in ${path.basename(image)} (use --crops if the image is a face crop)`,
    });
    writeFileAtomic(o.output, png);
    return {
      image,
      output: o.output,
      task: meta.task,
      method,
      score: o.score,
      backend,
      faces: explained.map((f, i) => ({
        box: round1(faces[i].box),
        crop: { box: round1(f.box), ...(f.angle ? { angle: Math.round(f.angle * 1e4) / 1e4 } : {}) },
        class: f.label,
        probability: f.probability,
        predicted: f.predicted.label,
        probabilities: f.probabilities,
        ...(f.age ? { age: f.age } : {}),
        ...(f.explains ? { explains: f.explains } : {}),
      })),
      ms: performance.now() - t0,
    };
  } finally {
    await explainer?.dispose();
    await fc.dispose();
  }
}

export function registerSaliency(program: Command): void {
  const cmd = program
    .command('saliency')
    .description('show what the emotion, gender or age network looks at: guided back-propagation, Grad-CAM or guided Grad-CAM for every face, as a PNG panel')
    .argument('<image>', 'image file (any format sharp reads)')
    .requiredOption('-o, --output <png>', 'output PNG: a row per face with the crop, the map and the overlay')
    .option('--task <task>', 'emotion | gender | age (age: what drives the age estimate, the expectation over the anchor ages)', 'emotion')
    .option('--class <name>', "class to explain (label or index; age: an anchor age such as 44); default: each face's predicted class (age: the estimate)")
    .option('--method <name>', `${SALIENCY_METHODS.join(' | ')}`, 'guided')
    .option('--score <kind>', 'differentiate the class logit (pre-softmax, default) or its softmax probability', 'logit')
    .option('--crops', 'the image is a face crop: find the face in it and frame it like classify --crops (the whole crop when none is found)', false)
    .option('--model <dir>', 'model directory (default: models/<task> of the project)')
    .addOption(detectorOption())
    .addOption(marginOption('crop margin around the detector box (default: model card, else tuned per detector)'))
    .addOption(runtimeOption())
    .addOption(ttaOption())
    .option('--no-align', 'do not level the eyes of each face (as classify --no-align)')
    .option('--max-faces <n>', 'at most this many faces', '20')
    .addOption(minFaceSizeOption())
    .option('--cell <px>', 'size of each panel cell in pixels', '192')
    .option('--colormap <name>', `${COLORMAPS.join(' | ')}`, 'turbo')
    .option('--cam-layer <name>', 'Grad-CAM feature map: output of this layer (default: the input of the last convolution)')
    .option('--json', 'print a JSON summary instead of text', false);
  addInputFileOptions(cmd).action(async (image: string, o: SaliencyCliOptions, cmd: Command) => {
    const r = await runSaliencyCommand(image, { ...o, taskExplicit: cmd.getOptionValueSource('task') === 'cli' }, cmd.optsWithGlobals().backend);
    if (o.json) return printJson(r);
    if (r.faces.length === 0) process.stderr.write(`facecls: no faces found in ${image} (use --crops if it is a face crop)\n`);
    for (const [i, f] of r.faces.entries()) {
      const pred = f.predicted === f.class ? '' : ` (predicted ${f.predicted})`;
      const what = f.age && f.explains ? `age ${formatAge(f.age)}` : `${f.class} p=${fmt(f.probability, 3)}${pred}`;
      console.log(`face ${i + 1} [${f.box.join(', ')}]: ${r.method} for ${what}`);
    }
    console.log(`wrote ${r.output} (${r.faces.length} face${r.faces.length === 1 ? '' : 's'}, ${fmt(r.ms, 0)} ms, backend ${r.backend})`);
  });
}
