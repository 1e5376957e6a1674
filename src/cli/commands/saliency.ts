/**
 * `facecls saliency <image> -o out.png`: what the emotion or gender network looks at, for every face.
 * Detects faces with the pipeline's detector (or, with --crops, takes the image as one face crop),
 * crops them like the classifiers do, and writes one PNG with a row per face: crop, map, overlay.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { decodeImage } from '../../data/decode.js';
import type { Box } from '../../data/preprocess.js';
import { createDetector } from '../../detect/index.js';
import { parseDetectorName } from '../../detect/types.js';
import { setupBackend } from '../../engine/backend.js';
import { UserError } from '../../errors.js';
import { checkOutputFile, writeFileAtomic } from '../../io/fs-handler.js';
import { addInputFileOptions, detectorOption, inputFileOptions, marginOption, minFaceSizeOption } from '../pipeline-options.js';
import { loadModel } from '../../io/model-store.js';
import { DEFAULT_CROP_MARGIN, defaultModelDir, detectorMargin, detectorCropBox } from '../../pipeline/face-classifier.js';
import { COLORMAPS, type ColormapName } from '../../viz/colormap.js';
import { explainedPanel, explainFaces } from '../../viz/explain.js';
import { isSaliencyMethod, SALIENCY_METHODS, type SaliencyMethod } from '../../viz/saliency.js';
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
}

export interface SaliencyCommandResult {
  image: string;
  output: string;
  task: string;
  method: SaliencyMethod;
  score: string;
  backend: string;
  faces: Array<{ box: Box; class: string; probability: number; predicted: string; probabilities: Record<string, number> }>;
  ms: number;
}

export async function runSaliencyCommand(image: string, o: SaliencyCliOptions, backendOpt?: string): Promise<SaliencyCommandResult> {
  if (!o.output) throw new UserError('missing -o/--output <png>');
  if (o.task !== 'emotion' && o.task !== 'gender') throw new UserError(`unknown task "${o.task}": choose emotion or gender`);
  if (!isSaliencyMethod(o.method)) throw new UserError(`unknown method "${o.method}": choose one of ${SALIENCY_METHODS.join(', ')}`);
  if (o.score !== 'logit' && o.score !== 'probability') throw new UserError(`unknown score "${o.score}": choose logit or probability`);
  if (!(COLORMAPS as readonly string[]).includes(o.colormap)) throw new UserError(`unknown colormap "${o.colormap}": choose one of ${COLORMAPS.join(', ')}`);
  if (!o.crops) parseDetectorName(o.detector);
  if (path.extname(o.output).toLowerCase() !== '.png') throw new UserError(`output "${o.output}" must be a .png file`);
  const cell = parseIntOption(o.cell, '--cell', 32, 1024);
  const maxFaces = parseIntOption(o.maxFaces, '--max-faces', 1, 1000);
  const margin = o.margin === undefined ? undefined : parseFloatOption(o.margin, '--margin', -0.4, 2);
  const minFaceSize = o.minFaceSize === undefined ? undefined : parseFloatOption(o.minFaceSize, '--min-face-size', 0);
  const fileOpts = inputFileOptions(o);
  checkOutputFile(o.output);

  const backend = await setupBackend(backendOpt);
  const t0 = performance.now();
  const modelDir = o.model ?? defaultModelDir(o.task);
  const { model, meta } = await loadModel(modelDir).catch((err: unknown) => {
    if (o.model === undefined && err instanceof UserError) {
      throw new UserError(`no ${o.task} model at "${modelDir}": train one or pass --model <dir> (${err.message})`);
    }
    throw err;
  });
  try {
    if (o.model !== undefined && o.taskExplicit && meta.task !== 'custom' && meta.task !== o.task) {
      throw new UserError(`model "${o.model}" is for the ${meta.task} task, not ${o.task} (drop --task or pass another --model)`);
    }
    const img = await decodeImage(image, fileOpts);
    let boxes: Box[];
    if (o.crops) {
      boxes = [[0, 0, img.width, img.height]];
    } else {
      const detector = await createDetector(o.detector);
      try {
        const dets = await detector.detect(img, { maxFaces, minFaceSize });
        const m = margin ?? (typeof meta.cropMargin === 'number' ? detectorMargin(detector.name, meta.cropMargin) : DEFAULT_CROP_MARGIN[detector.name]);
        boxes = dets.map((d) => detectorCropBox(d.box, detector.name, m));
      } finally {
        detector.dispose();
      }
    }
    const method = o.method;
    const faces = explainFaces(model, meta, img, boxes, { method, className: o.class, score: o.score as 'logit' | 'probability', camLayer: o.camLayer });
    const png = await explainedPanel(img, faces, meta, method, {
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
      faces: faces.map((f) => ({
        box: f.box.map((v) => Math.round(v * 10) / 10) as Box,
        class: f.label,
        probability: f.probability,
        predicted: f.predicted.label,
        probabilities: f.probabilities,
      })),
      ms: performance.now() - t0,
    };
  } finally {
    model.dispose();
  }
}

export function registerSaliency(program: Command): void {
  const cmd = program
    .command('saliency')
    .description('show what the emotion or gender network looks at: guided back-propagation, Grad-CAM or guided Grad-CAM for every face, as a PNG panel')
    .argument('<image>', 'image file (any format sharp reads)')
    .requiredOption('-o, --output <png>', 'output PNG: a row per face with the crop, the map and the overlay')
    .option('--task <task>', 'emotion | gender', 'emotion')
    .option('--class <name>', 'class to explain (label or index); default: each face\'s predicted class')
    .option('--method <name>', `${SALIENCY_METHODS.join(' | ')}`, 'guided')
    .option('--score <kind>', 'differentiate the class logit (pre-softmax, default) or its softmax probability', 'logit')
    .option('--crops', 'the image is a face crop: skip detection and explain the whole image', false)
    .option('--model <dir>', 'model directory (default: models/<task> of the project)')
    .addOption(detectorOption())
    .addOption(marginOption('crop margin around the detector box (default: model card, else tuned per detector)'))
    .option('--max-faces <n>', 'at most this many faces', '20')
    .addOption(minFaceSizeOption())
    .option('--cell <px>', 'size of each panel cell in pixels', '192')
    .option('--colormap <name>', `${COLORMAPS.join(' | ')}`, 'turbo')
    .option('--cam-layer <name>', 'Grad-CAM feature map: output of this layer (default: the input of the last convolution)')
    .option('--json', 'print a JSON summary instead of text', false);
  addInputFileOptions(cmd)
    .action(async (image: string, o: SaliencyCliOptions, cmd: Command) => {
      const r = await runSaliencyCommand(image, { ...o, taskExplicit: cmd.getOptionValueSource('task') === 'cli' }, cmd.optsWithGlobals().backend);
      if (o.json) return printJson(r);
      if (r.faces.length === 0) process.stderr.write(`facecls: no faces found in ${image} (use --crops if it is a face crop)\n`);
      for (const [i, f] of r.faces.entries()) {
        const pred = f.predicted === f.class ? '' : ` (predicted ${f.predicted})`;
        console.log(`face ${i + 1} [${f.box.join(', ')}]: ${r.method} for ${f.class} p=${fmt(f.probability, 3)}${pred}`);
      }
      console.log(`wrote ${r.output} (${r.faces.length} face${r.faces.length === 1 ? '' : 's'}, ${fmt(r.ms, 0)} ms, backend ${r.backend})`);
    });
}
