/**
 * A `file://` IOHandler for tfjs-layers artifacts (model.json + weights.bin), which tfjs
 * lacks without tfjs-node. Writes are atomic: each file goes to a temp name and is renamed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function writeFailure(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOENT: 'no such directory, or the file system does not allow creating files there',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent of the path is not a directory',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EEXIST: 'exists and is not a file that can be replaced',
  };
  return (code && why[code]) ?? (err instanceof Error ? err.message : String(err));
}

/** An output file that cannot be written: a UserError (one line, exit 1) naming the file. */
export class WriteFileError extends UserError {
  readonly code?: string;
  constructor(file: string, err: unknown) {
    super(`cannot write "${file}": ${writeFailure(file, err)}`, { cause: err });
    this.name = 'WriteFileError';
    this.code = (err as NodeJS.ErrnoException).code;
  }
}

/**
 * Refuse an output path that can never be written as a file (an existing directory, a parent that is a
 * file), before any work is done for it. Whether the file system accepts the file is only known when writing.
 */
export function checkOutputFile(file: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new WriteFileError(file, err);
    return;
  }
  if (st.isDirectory()) throw new WriteFileError(file, Object.assign(new Error('is a directory'), { code: 'EISDIR' }));
}

/**
 * Write a file atomically: temp file in the same directory, fsync, rename. On any failure the temp
 * file is removed, the target is left as it was, and a WriteFileError names the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  checkOutputFile(file);
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let created = false;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(tmp, 'wx');
    created = true;
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    if (created) fs.rmSync(tmp, { force: true });
    throw new WriteFileError(file, err);
  }
}

function stripScheme(url: string): string {
  return url.startsWith('file://') ? url.slice('file://'.length) : url;
}

/** Resolve a user path to a model directory: accepts the directory or its model.json. */
export function modelDir(pathOrUrl: string): string {
  const p = stripScheme(pathOrUrl);
  return path.basename(p) === MODEL_JSON ? path.dirname(p) : p;
}

function concatBuffers(data: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of parts) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

export class FileSystemHandler implements tf.io.IOHandler {
  readonly dir: string;

  constructor(pathOrUrl: string) {
    this.dir = modelDir(pathOrUrl);
  }

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('binary model topologies are not supported by the file handler');
    }
    const weights = concatBuffers(artifacts.weightData as ArrayBuffer | ArrayBuffer[] | undefined);
    const modelJson: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology as object,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
    };
    if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
    if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
    // Weights first, then the JSON that references them: a reader never sees JSON without weights.
    writeFileAtomic(path.join(this.dir, WEIGHTS_BIN), weights);
    writeFileAtomic(path.join(this.dir, MODEL_JSON), JSON.stringify(modelJson));
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        modelTopologyBytes: JSON.stringify(modelJson.modelTopology).length,
        weightSpecsBytes: JSON.stringify(modelJson.weightsManifest).length,
        weightDataBytes: weights.byteLength,
      },
    };
  }

  async load(): Promise<tf.io.ModelArtifacts> {
    const jsonPath = path.join(this.dir, MODEL_JSON);
    let text: string;
    try {
      text = fs.readFileSync(jsonPath, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read model "${this.dir}": ${MODEL_JSON} not found or unreadable`, { cause: err });
    }
    let json: tf.io.ModelJSON;
    try {
      json = JSON.parse(text) as tf.io.ModelJSON;
    } catch (err) {
      throw new UserError(`model "${jsonPath}" is not valid JSON`, { cause: err });
    }
    if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
      throw new UserError(`model "${jsonPath}" is not a tfjs layers model (missing modelTopology or weightsManifest)`);
    }
    const weightSpecs: tf.io.WeightsManifestEntry[] = [];
    const buffers: Uint8Array[] = [];
    for (const group of json.weightsManifest) {
      weightSpecs.push(...group.weights);
      for (const rel of group.paths) {
        const file = path.resolve(this.dir, rel);
        if (path.relative(this.dir, file).startsWith('..')) {
          throw new UserError(`model "${jsonPath}" references a weights file outside its directory: ${rel}`);
        }
        try {
          buffers.push(fs.readFileSync(file));
        } catch (err) {
          throw new UserError(`model "${this.dir}": weights file ${rel} not found or unreadable`, { cause: err });
        }
      }
    }
    const weightData = concatBuffers(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
    const expected = weightSpecs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s.quantization?.dtype ?? s.dtype), 0);
    if (expected !== weightData.byteLength) {
      throw new UserError(`model "${this.dir}": weights file has ${weightData.byteLength} bytes but model.json describes ${expected}`);
    }
    return {
      modelTopology: json.modelTopology,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      trainingConfig: json.trainingConfig,
      userDefinedMetadata: json.userDefinedMetadata,
      weightSpecs,
      weightData: weightData.buffer as ArrayBuffer,
    };
  }
}

function bytesPerElement(dtype: string): number {
  switch (dtype) {
    case 'float32':
    case 'int32':
      return 4;
    case 'bool':
    case 'uint8':
      return 1;
    case 'float16':
    case 'uint16':
    case 'int16':
      return 2;
    default:
      throw new UserError(`unsupported weight dtype "${dtype}"`);
  }
}

export function fileSystem(pathOrUrl: string): FileSystemHandler {
  return new FileSystemHandler(pathOrUrl);
}

let registered = false;
/** Route `file://` URLs of tf.loadLayersModel / model.save to this handler. */
export function registerFileRouter(): void {
  if (registered) return;
  registered = true;
  // tfjs routers return null for URLs they do not handle, though the type says otherwise.
  const router = ((url: string | string[]) => {
    if (Array.isArray(url)) return null;
    return url.startsWith('file://') ? fileSystem(url) : null;
  }) as unknown as Parameters<typeof tf.io.registerSaveRouter>[0];
  tf.io.registerSaveRouter(router);
  tf.io.registerLoadRouter(router);
}
