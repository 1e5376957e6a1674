/**
 * Reading a Keras 2.x HDF5 model file (`model.save('x.hdf5')`): the `model_config` JSON attribute
 * and the `model_weights` group (one sub-group per layer, listed by the `layer_names` attribute,
 * each listing its arrays by `weight_names`). Optimizer state is never read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as H5 from 'h5wasm/node';
import { UserError, errorMessage } from '../../errors.js';

export interface KerasArray {
  /** Name as stored, e.g. `conv2d_1/kernel:0`. */
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface KerasFile {
  file: string;
  kerasVersion?: string;
  backend?: string;
  /** Parsed `model_config` attribute: `{class_name, config}`. */
  modelConfig: { class_name: string; config: unknown };
  /** Arrays of each layer that has weights, in the order the file lists them. */
  weights: Map<string, KerasArray[]>;
  /** Layer order of the `layer_names` attribute. */
  layerNames: string[];
}

/** HDF5 files start with this signature at byte 0, 512, 1024, 2048, ... (user block). */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function hasHdf5Signature(file: string, size: number): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      if (fs.readSync(fd, buf, 0, 8, offset) === 8 && buf.equals(HDF5_SIGNATURE)) return true;
      if (offset > 1 << 24) break;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

type H5Module = typeof H5;
/** h5wasm is loaded on first use: the CLI should not pay for it in commands that never read HDF5. */
let ready: Promise<H5Module> | undefined;

/** The innermost reason of an HDF5 error stack (its last "#NNN: ... in f(): reason" line), else the message. */
function hdf5Reason(err: unknown): string {
  const msg = errorMessage(err);
  const reasons = [...msg.matchAll(/#\d+: .*? in [\w.]+\(\): (.*)$/gm)].map((m) => m[1].trim());
  return reasons.length > 0 ? reasons[reasons.length - 1] : msg.split('\n')[0];
}

type H5Group = H5.Group;

function attrNames(obj: { attrs: Record<string, unknown> }): string[] {
  return Object.keys(obj.attrs);
}

function readAttr(obj: H5Group, name: string): unknown {
  if (!attrNames(obj).includes(name)) return undefined;
  return obj.get_attribute(name, true);
}

/** Attribute as a list of strings (HDF5 fixed or variable-length strings; an empty list may be stored as float64). */
function stringList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const items = Array.from(value as ArrayLike<unknown>);
    return items.map((v) => (typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v)));
  }
  return [String(value)];
}

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value) && value.length === 1) return asText(value[0]);
  return String(value);
}

function toFloat32(value: unknown, where: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array || value instanceof Int32Array || value instanceof Uint8Array || value instanceof Int16Array) {
    return Float32Array.from(value as ArrayLike<number>);
  }
  if (value instanceof Uint16Array) {
    throw new UserError(`${where}: float16 weights are not supported; re-save the model with float32 weights`);
  }
  throw new UserError(`${where}: weights are not a numeric array`);
}

/** Open and read a Keras HDF5 model file. Throws UserError naming the file for anything it cannot use. */
export async function readKerasHdf5(file: string): Promise<KerasFile> {
  const abs = path.resolve(file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new UserError(`Keras model file "${file}" does not exist`);
  }
  if (!stat.isFile()) throw new UserError(`Keras model file "${file}" is not a file`);
  if (stat.size === 0) throw new UserError(`Keras model file "${file}" is empty`);
  if (!hasHdf5Signature(abs, stat.size)) {
    const head = Buffer.alloc(4);
    const fd = fs.openSync(abs, 'r');
    try {
      fs.readSync(fd, head, 0, 4, 0);
    } finally {
      fs.closeSync(fd);
    }
    const zip = head[0] === 0x50 && head[1] === 0x4b;
    throw new UserError(
      zip
        ? `"${file}" is a zip archive (Keras 3 ".keras" format?), not a Keras 2 HDF5 file: re-save it with model.save("model.h5")`
        : `"${file}" is not an HDF5 file (no HDF5 signature)`,
    );
  }
  ready ??= import('h5wasm/node').then(async (h5) => {
    const m = await h5.ready;
    // Turn HDF5 errors into exceptions instead of HDF5-DIAG text on stderr (and a garbage read).
    m.activate_throwing_error_handler();
    return h5;
  });
  const h5wasm = await ready;
  let f: H5.File;
  try {
    f = new h5wasm.File(abs, 'r');
  } catch (err) {
    throw new UserError(`cannot open HDF5 file "${file}" (corrupt or truncated?): ${hdf5Reason(err)}`, { cause: err });
  }
  try {
    return readOpened(h5wasm, f, file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot read Keras model "${file}" (corrupt or truncated?): ${hdf5Reason(err)}`, { cause: err });
  } finally {
    f.close();
  }
}

function readOpened(h5wasm: H5Module, f: H5.File, file: string): KerasFile {
  const configText = asText(readAttr(f, 'model_config'));
  const rootKeys = f.keys();
  if (configText === undefined) {
    if (attrNames(f).includes('layer_names')) {
      throw new UserError(
        `"${file}" holds weights only (saved with save_weights): it has no model_config, so the architecture is unknown; save the full model with model.save()`,
      );
    }
    throw new UserError(`"${file}" is not a Keras model file: it has no model_config attribute`);
  }
  let modelConfig: { class_name: string; config: unknown };
  try {
    modelConfig = JSON.parse(configText) as { class_name: string; config: unknown };
  } catch (err) {
    throw new UserError(`"${file}": model_config is not valid JSON`, { cause: err });
  }
  if (!modelConfig || typeof modelConfig !== 'object' || typeof modelConfig.class_name !== 'string') {
    throw new UserError(`"${file}": model_config has no class_name`);
  }
  if (!rootKeys.includes('model_weights')) throw new UserError(`"${file}" has no model_weights group`);
  const mw = f.get('model_weights');
  if (!(mw instanceof h5wasm.Group)) throw new UserError(`"${file}": model_weights is not a group`);
  const layerNames = stringList(readAttr(mw, 'layer_names'));
  const weights = new Map<string, KerasArray[]>();
  for (const layer of layerNames) {
    const g = mw.get(layer);
    if (!(g instanceof h5wasm.Group)) throw new UserError(`"${file}": model_weights has no group for layer "${layer}"`);
    const names = stringList(readAttr(g, 'weight_names'));
    if (names.length === 0) continue;
    const arrays: KerasArray[] = [];
    for (const name of names) {
      const d = g.get(name);
      if (!(d instanceof h5wasm.Dataset)) throw new UserError(`"${file}": weight "${name}" of layer "${layer}" is missing`);
      const where = `"${file}": weight "${name}"`;
      const shape = d.shape ?? [];
      const data = toFloat32(d.value, where);
      const n = shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new UserError(`${where} has ${data.length} values for shape [${shape.join(', ')}]`);
      arrays.push({ name, shape, data });
    }
    weights.set(layer, arrays);
  }
  return {
    file,
    kerasVersion: asText(readAttr(f, 'keras_version')) ?? asText(readAttr(mw, 'keras_version')),
    backend: asText(readAttr(f, 'backend')) ?? asText(readAttr(mw, 'backend')),
    modelConfig,
    weights,
    layerNames,
  };
}
