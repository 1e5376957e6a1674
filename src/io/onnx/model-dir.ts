/**
 * ONNX for model directories: export a saved facecls model, fingerprint its tfjs artifacts so a
 * shipped model.onnx can be checked against them, and read the facecls metadata back from ONNX bytes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, errorMessage } from '../../errors.js';
import { MODEL_JSON, modelDir, writeFileAtomic } from '../fs-handler.js';
import { loadModel, type ModelMeta } from '../model-store.js';
import { exportToOnnx, ONNX_META_KEY, type OnnxExportOptions } from './exporter.js';
import { decodeModel } from './schema.js';

export const MODEL_ONNX = 'model.onnx';
/** metadata_props key holding the fingerprint of the tfjs artifacts the ONNX file was made from. */
export const SOURCE_KEY = 'facecls.source_sha256';

/** SHA-256 over model.json and the weight files it lists: identifies exactly what was exported. */
export function sourceFingerprint(dirOrJson: string): string {
  const dir = modelDir(dirOrJson);
  const jsonPath = path.join(dir, MODEL_JSON);
  let json: Buffer;
  try {
    json = fs.readFileSync(jsonPath);
  } catch (err) {
    throw new UserError(`model "${dirOrJson}": cannot read ${MODEL_JSON}: ${errorMessage(err)}`, { cause: err });
  }
  const hash = createHash('sha256').update(json);
  let manifest: Array<{ paths?: string[] }>;
  try {
    manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: Array<{ paths?: string[] }> }).weightsManifest ?? [];
  } catch (err) {
    throw new UserError(`model "${dirOrJson}": ${MODEL_JSON} is not valid JSON: ${errorMessage(err)}`, { cause: err });
  }
  for (const group of manifest) {
    for (const p of group.paths ?? []) {
      const file = path.resolve(dir, p);
      if (!file.startsWith(path.resolve(dir) + path.sep)) throw new UserError(`model "${dirOrJson}": weight path "${p}" leaves the model directory`);
      try {
        hash.update(fs.readFileSync(file));
      } catch (err) {
        throw new UserError(`model "${dirOrJson}": cannot read weights "${p}": ${errorMessage(err)}`, { cause: err });
      }
    }
  }
  return hash.digest('hex');
}

export interface OnnxInfo {
  meta?: ModelMeta;
  source?: string;
  opset?: number;
  inputs: string[];
  outputs: string[];
  nodes: number;
}

/** The facecls metadata and I/O names of ONNX bytes; UserError naming `label` when they are not ONNX. */
export function readOnnxInfo(bytes: Uint8Array, label = 'ONNX model'): OnnxInfo {
  let m;
  try {
    m = decodeModel(bytes);
  } catch (err) {
    throw new UserError(`${label} is not a valid ONNX file: ${errorMessage(err)}`, { cause: err });
  }
  if (!m.graph) throw new UserError(`${label} is not a valid ONNX file: it has no graph`);
  const props = new Map(m.metadataProps.map((p) => [p.key, p.value]));
  let meta: ModelMeta | undefined;
  const raw = props.get(ONNX_META_KEY);
  if (raw) {
    try {
      meta = JSON.parse(raw) as ModelMeta;
    } catch {
      throw new UserError(`${label}: its facecls metadata is not valid JSON`);
    }
  }
  return {
    meta,
    source: props.get(SOURCE_KEY),
    opset: m.opsetImport.find((o) => !o.domain)?.version,
    inputs: (m.graph.input ?? []).map((v) => v.name),
    outputs: (m.graph.output ?? []).map((v) => v.name),
    nodes: (m.graph.node ?? []).length,
  };
}

export interface ExportedModel {
  bytes: Uint8Array;
  meta: ModelMeta;
  source: string;
}

/** Load a saved model directory with tfjs (on the active backend), export it, free the tfjs model. */
export async function exportModelDir(dir: string, opts: Omit<OnnxExportOptions, 'meta'> = {}): Promise<ExportedModel> {
  const source = sourceFingerprint(dir);
  const loaded = await loadModel(dir);
  try {
    const bytes = exportToOnnx(loaded.model, { ...opts, meta: loaded.meta, metadata: { ...(opts.metadata ?? {}), [SOURCE_KEY]: source } });
    return { bytes, meta: loaded.meta, source };
  } finally {
    loaded.model.dispose();
  }
}

/**
 * A model.onnx shipped next to model.json, when it was exported from exactly these tfjs artifacts.
 * Returns undefined when absent or stale (then the caller exports afresh).
 */
export function shippedOnnx(dir: string): ExportedModel | undefined {
  const file = path.join(modelDir(dir), MODEL_ONNX);
  if (!fs.existsSync(file)) return undefined;
  const bytes = fs.readFileSync(file);
  let info: OnnxInfo;
  try {
    info = readOnnxInfo(bytes, file);
  } catch {
    return undefined;
  }
  const source = sourceFingerprint(dir);
  if (!info.meta || info.source !== source) return undefined;
  return { bytes, meta: info.meta, source };
}

/** Export a model directory to an .onnx file (atomic write). */
export async function writeOnnx(dir: string, outFile: string, opts: Omit<OnnxExportOptions, 'meta'> = {}): Promise<ExportedModel> {
  const exported = await exportModelDir(dir, opts);
  try {
    writeFileAtomic(outFile, exported.bytes);
  } catch (err) {
    throw new UserError(`cannot write "${outFile}": ${errorMessage(err)}`, { cause: err });
  }
  return exported;
}
