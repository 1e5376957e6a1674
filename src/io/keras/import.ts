/**
 * `facecls import keras`: turn a Keras 2 HDF5 model into a normal facecls model directory
 * (tfjs-layers model.json + weights.bin with facecls metadata) plus a model card.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError, errorMessage } from '../../errors.js';
import { MODEL_JSON, writeFileAtomic } from '../fs-handler.js';
import { EMOTION_LABELS, GENDER_LABELS, saveModel, type ModelMeta, type Task } from '../model-store.js';
import { matchZooArchitecture, type ArchMatch } from './arch.js';
import { buildFromKerasConfig } from './graph.js';
import { readKerasHdf5 } from './hdf5.js';
import { setLayerWeights } from './layers.js';

export const MODEL_CARD_JSON = 'model-card.json';
export const MODEL_CARD_MD = 'MODEL_CARD.md';

export interface KerasImportOptions {
  /** Override the task inferred from the number of classes. */
  task?: Task;
  /** Override the class labels (one per output). */
  labels?: string[];
  /** Relative crop margin the model expects around a detector box, when known. */
  cropMargin?: number;
  /** Replace an existing model in the output directory. */
  overwrite?: boolean;
}

export interface KerasImportResult {
  dir: string;
  meta: ModelMeta;
  match: ArchMatch;
  layers: number;
  weightValues: number;
  warnings: string[];
}

export interface ImportedKerasModel {
  model: tf.LayersModel;
  meta: ModelMeta;
  match: ArchMatch;
  weightValues: number;
  warnings: string[];
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function defaultLabels(task: Task, classes: number): string[] {
  if (task === 'emotion') return [...EMOTION_LABELS];
  if (task === 'gender') return [...GENDER_LABELS];
  return Array.from({ length: classes }, (_, i) => `class${i}`);
}

/** Read a Keras HDF5 file into a tfjs model with facecls metadata (not saved). */
export async function loadKerasModel(file: string, opts: KerasImportOptions = {}): Promise<ImportedKerasModel> {
  const kf = await readKerasHdf5(file);
  const warnings: string[] = [];
  if (kf.kerasVersion?.startsWith('1.')) {
    throw new UserError(`"${file}" was written by Keras ${kf.kerasVersion}: Keras 1 files are not supported (load it in Keras 2 and save it again)`);
  }
  if (kf.kerasVersion && !kf.kerasVersion.startsWith('2.')) {
    warnings.push(`the file was written by Keras ${kf.kerasVersion}; this importer targets Keras 2.x files`);
  }
  if (kf.backend && kf.backend !== 'tensorflow') {
    throw new UserError(
      `"${file}" was saved with the Keras ${kf.backend} backend: only tensorflow-backend files are supported (${kf.backend} stores convolution kernels flipped)`,
    );
  }
  const { model, classes } = buildFromKerasConfig(kf.modelConfig);
  try {
    let weightValues = 0;
    const used = new Set<string>();
    for (const layer of model.layers) {
      const arrays = kf.weights.get(layer.name) ?? [];
      if (layer.weights.length === 0 && arrays.length === 0) continue;
      weightValues += setLayerWeights(layer, classes.get(layer.name) ?? layer.getClassName(), arrays);
      used.add(layer.name);
    }
    const unused = [...kf.weights.keys()].filter((n) => !used.has(n));
    if (unused.length > 0) throw new UserError(`"${file}" has weights for layers that are not in the model: ${unused.join(', ')}`);

    const inShape = model.inputs[0].shape;
    const [h, w, channels] = [Number(inShape[1]), Number(inShape[2]), Number(inShape[3])];
    if (h !== w) throw new UserError(`"${file}": the model input is ${h}x${w}; facecls models take square inputs`);
    if (channels !== 1 && channels !== 3) throw new UserError(`"${file}": the model input has ${channels} channels; facecls supports 1 (grey) or 3 (RGB)`);
    const outShape = model.outputs[0].shape;
    if (outShape.length !== 2)
      throw new UserError(`"${file}": the model output has shape [${outShape.join(', ')}]; expected one class vector [batch, classes]`);
    const numClasses = Number(outShape[1]);
    if (!(numClasses >= 2)) throw new UserError(`"${file}": the model has ${numClasses} output(s); a classifier needs at least 2`);
    const last = model.layers[model.layers.length - 1];
    const lastActivation = (last.getConfig() as { activation?: string }).activation;
    if (lastActivation !== 'softmax')
      warnings.push(`the last layer's activation is ${lastActivation ?? 'none'}, not softmax: outputs are scores, not probabilities`);

    const task: Task = opts.task ?? (numClasses === 7 ? 'emotion' : numClasses === 2 ? 'gender' : 'custom');
    const labels = opts.labels ?? defaultLabels(task, numClasses);
    if (task === 'emotion' && numClasses !== 7 && !opts.labels)
      throw new UserError(`task emotion needs 7 outputs, the model has ${numClasses}: its labels must be named`, { reason: 'labels-needed' });
    if (task === 'gender' && numClasses !== 2 && !opts.labels)
      throw new UserError(`task gender needs 2 outputs, the model has ${numClasses}: its labels must be named`, { reason: 'labels-needed' });
    if (labels.length !== numClasses) throw new UserError(`the model has ${numClasses} outputs but ${labels.length} labels were given (${labels.join(', ')})`);

    const match = matchZooArchitecture(model, { inputSize: h, channels, numClasses });
    const abs = path.resolve(file);
    const meta: ModelMeta = {
      task,
      labels,
      ...(match.arch ? { arch: match.arch } : {}),
      inputSize: h,
      channels,
      preprocessing: { colorSpace: channels === 1 ? 'grey' : 'rgb', range: [-1, 1] },
      ...(opts.cropMargin !== undefined ? { cropMargin: opts.cropMargin } : {}),
      imported: true,
      source: {
        format: 'keras-hdf5',
        file: path.basename(abs),
        path: abs,
        sha256: sha256(abs),
        kerasVersion: kf.kerasVersion ?? null,
        kerasBackend: kf.backend ?? null,
        modelClass: kf.modelConfig.class_name,
        importedAt: new Date().toISOString(),
      },
      params: match.params,
    };
    return { model, meta, match, weightValues, warnings };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

function modelCardMarkdown(meta: ModelMeta, match: ArchMatch, warnings: string[]): string {
  const src = meta.source as Record<string, unknown>;
  const lines = [
    `# Model card: ${src.file}`,
    '',
    `Imported from a Keras ${src.kerasVersion ?? '2.x'} HDF5 file by \`facecls import keras\` on ${src.importedAt}.`,
    '',
    '| | |',
    '|---|---|',
    `| Task | ${meta.task} |`,
    `| Outputs (in order) | ${meta.labels.join(', ')} |`,
    `| Architecture | ${meta.arch ? `${meta.arch} (matches the zoo layer for layer)` : 'not a zoo architecture'} |`,
    `| Parameters | ${match.params.toLocaleString('en-US')} |`,
    `| Input size | ${meta.inputSize}x${meta.inputSize}x${meta.channels} |`,
    `| Preprocessing | ${meta.preprocessing.colorSpace}, scaled to [${meta.preprocessing.range.join(', ')}] (x / 127.5 - 1), src/data/preprocess.ts preprocessFace |`,
    `| Crop margin | ${meta.cropMargin !== undefined ? meta.cropMargin : 'not recorded (give --crop-margin)'} |`,
    `| Source file | ${src.path} |`,
    `| Source SHA-256 | ${src.sha256} |`,
    '',
  ];
  if (meta.task === 'gender') {
    lines.push(
      "The paper's gender models were trained on IMDB crops with a loose margin (about 40%), so they expect",
      'a face with a generous border: on tight aligned crops accuracy drops markedly (see `facecls eval`).',
      '',
    );
  }
  if (warnings.length > 0) lines.push('## Warnings', '', ...warnings.map((w) => `- ${w}`), '');
  return lines.join('\n');
}

/** Import a Keras HDF5 model and save it as a facecls model directory with a model card. */
export async function importKerasModel(file: string, outDir: string, opts: KerasImportOptions = {}): Promise<KerasImportResult> {
  const dir = path.resolve(outDir);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UserError(`output "${outDir}" exists and is not a directory`);
  if (fs.existsSync(path.join(dir, MODEL_JSON)) && !opts.overwrite) {
    throw new UserError(`output "${outDir}" already holds a model`, { reason: 'output-exists' });
  }
  const { model, meta, match, weightValues, warnings } = await loadKerasModel(file, opts);
  try {
    const card = { ...meta, architectureCheck: match, warnings };
    try {
      await saveModel(model, dir, meta);
      writeFileAtomic(path.join(dir, MODEL_CARD_JSON), JSON.stringify(card, null, 2) + '\n');
      writeFileAtomic(path.join(dir, MODEL_CARD_MD), modelCardMarkdown(meta, match, warnings));
    } catch (err) {
      throw new UserError(`cannot write the imported model to "${outDir}": ${errorMessage(err)}`, { cause: err });
    }
    return { dir, meta, match, layers: model.layers.length, weightValues, warnings };
  } finally {
    model.dispose();
  }
}
