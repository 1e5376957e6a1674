/**
 * createRuntime(modelDir, {runtime}): the one way pipeline, CLI and server get a classifier runner.
 * 'onnx' uses a model.onnx shipped next to model.json when it was exported from exactly those
 * artifacts, else exports the model in memory; 'tfjs' runs the layers model on the tfjs backend.
 */
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../engine/backend.js';
import { UserError } from '../errors.js';
import { exportToOnnx } from '../io/onnx/exporter.js';
import { exportModelDir, shippedOnnx, MODEL_ONNX } from '../io/onnx/model-dir.js';
import type { ModelMeta } from '../io/model-store.js';
import { loadOrt, OnnxRuntime, type OnnxRuntimeOptions } from './onnx.js';
import { parseRuntimeOption, runtimeExplicit } from './options.js';
import { TfjsRuntime } from './tfjs.js';
import type { InferenceRuntime, RuntimeName } from './types.js';

export interface CreateRuntimeOptions extends OnnxRuntimeOptions {
  /** 'onnx' | 'tfjs', or a raw user value (validated); default env FACECLS_RUNTIME, else onnx. */
  runtime?: RuntimeName | string;
  /** tfjs backend (wasm | cpu) for the tfjs runtime and for loading a model to export it. */
  backend?: string;
  /** Use a shipped, up-to-date model.onnx (default true); false always exports afresh. */
  useShippedOnnx?: boolean;
  /** Called with a one-line notice when falling back from onnx to tfjs (default: stderr). */
  warn?: (message: string) => void;
}

/**
 * Which runtime to use: the requested one; when onnx was only the default and onnxruntime-node
 * cannot load on this platform, tfjs with a warning.
 */
async function chooseRuntime(opts: CreateRuntimeOptions): Promise<RuntimeName> {
  const name = parseRuntimeOption(opts.runtime);
  if (name !== 'onnx') return name;
  try {
    await loadOrt();
    return 'onnx';
  } catch (err) {
    if (runtimeExplicit(opts.runtime)) throw err;
    warn(opts, `${(err as Error).message}; falling back to the tfjs runtime`);
    return 'tfjs';
  }
}

export async function createRuntime(modelDir: string, opts: CreateRuntimeOptions = {}): Promise<InferenceRuntime> {
  const name = await chooseRuntime(opts);
  if (name === 'tfjs') {
    await setupBackend(opts.backend);
    return TfjsRuntime.load(modelDir, opts.tta);
  }
  const shipped = opts.useShippedOnnx === false ? undefined : shippedOnnx(modelDir);
  if (shipped) return OnnxRuntime.create(shipped.bytes, shipped.meta, opts, path.join(modelDir, MODEL_ONNX), 'shipped');
  await setupBackend(opts.backend);
  let exported;
  try {
    exported = await exportModelDir(modelDir);
  } catch (err) {
    // A layer the exporter lacks: an explicit --runtime onnx fails naming it; the default falls back.
    if (!(err instanceof UserError) || err.reason !== 'export-unsupported' || runtimeExplicit(opts.runtime)) throw err;
    warn(opts, `model "${modelDir}" runs on tfjs: ${err.message}`);
    return TfjsRuntime.load(modelDir, opts.tta);
  }
  return OnnxRuntime.create(exported.bytes, exported.meta, opts, `model "${modelDir}" (exported to ONNX)`);
}

function warn(opts: CreateRuntimeOptions, message: string): void {
  (opts.warn ?? ((m: string) => process.stderr.write(`facecls: warning: ${m}\n`)))(message);
}

/**
 * A runtime over an in-memory layers model (e.g. freshly built or trained). The tfjs runtime takes
 * ownership of the model (dispose() frees it); the onnx runtime copies its weights and leaves it alone.
 */
export async function createRuntimeFromModel(model: tf.LayersModel, meta: ModelMeta, opts: CreateRuntimeOptions = {}): Promise<InferenceRuntime> {
  const name = await chooseRuntime(opts);
  const classes = Number(model.outputs[0].shape[model.outputs[0].shape.length - 1]);
  if (meta.labels.length !== classes)
    throw new UserError(`model has ${classes} outputs but its metadata lists ${meta.labels.length} labels`, { reason: 'model-mismatch' });
  if (name === 'tfjs') return new TfjsRuntime({ model, meta }, opts.tta);
  return OnnxRuntime.create(exportToOnnx(model, { meta }), meta, opts, `model "${model.name}" (exported to ONNX)`);
}
