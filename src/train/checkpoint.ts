/**
 * A run's resumable state on disk (the one place that writes and reads it):
 *   config.json      { version: 1, options } (the resolved TrainOptions; resume reads them back)
 *   ckpt-NNNNNN/     the last complete epoch: model (facecls model format) + optimizer.bin
 *   checkpoint.json  points to that folder, written atomically once the folder is complete
 * optimizer.bin is the optimizer's slot arrays (Adam's m and v per weight) as little-endian float32,
 * one after the other; checkpoint.json records their lengths and the step count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { OptimizerState } from '../engine/trainer-types.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/fs-handler.js';
import { loadModel, saveModel, type ModelMeta } from '../io/model-store.js';
import type { MonitorState } from './schedule.js';
import type { EpochRecord, TrainOptions } from './options.js';

export const CHECKPOINT_JSON = 'checkpoint.json';
export const CONFIG_JSON = 'config.json';
export const OPTIMIZER_BIN = 'optimizer.bin';

/** checkpoint.json (version 1). */
export interface CheckpointFile {
  version: 1;
  epoch: number;
  /** The checkpoint folder, relative to the run directory (ckpt-NNNNNN). */
  dir: string;
  lr: number;
  monitor: MonitorState;
  history: EpochRecord[];
  optimizer: { iterations: number; slotLengths: number[] };
  elapsedSeconds: number;
}

/** What a checkpoint records besides the model and the optimizer. */
export type CheckpointState = Pick<CheckpointFile, 'epoch' | 'lr' | 'monitor' | 'history' | 'elapsedSeconds'>;

/** The state a resumed run starts from. */
export interface Resumed {
  file: CheckpointFile;
  model: tf.LayersModel;
  optimizer: OptimizerState;
}

export function ckptName(epoch: number): string {
  return `ckpt-${String(epoch).padStart(6, '0')}`;
}

/** The optimizer's slots as optimizer.bin's bytes, and the record checkpoint.json keeps of them. */
export function packOptimizerState(state: OptimizerState): { bytes: Uint8Array; record: CheckpointFile['optimizer'] } {
  const all = new Float32Array(state.slots.reduce((a, s) => a + s.length, 0));
  let off = 0;
  for (const s of state.slots) {
    all.set(s, off);
    off += s.length;
  }
  return { bytes: new Uint8Array(all.buffer), record: { iterations: state.iterations, slotLengths: state.slots.map((s) => s.length) } };
}

/** The inverse of packOptimizerState; `file` names the source in errors. */
export function unpackOptimizerState(bytes: Uint8Array, record: CheckpointFile['optimizer'], file: string): OptimizerState {
  const expected = record.slotLengths.reduce((a, b) => a + b, 0) * 4;
  if (bytes.byteLength !== expected) throw new UserError(`checkpoint "${file}" has ${bytes.byteLength} bytes, expected ${expected}`);
  // Copy: a pooled Buffer need not be 4-byte aligned.
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let off = 0;
  return { iterations: record.iterations, slots: record.slotLengths.map((len) => all.slice(off, (off += len))) };
}

/**
 * Write the checkpoint of a complete epoch: the folder first, then the pointer (atomic rename), then
 * the older folders go. A crash at any point leaves a complete checkpoint named by checkpoint.json.
 */
export async function saveCheckpoint(runDir: string, state: CheckpointState, model: tf.LayersModel, meta: ModelMeta, optimizer: OptimizerState): Promise<void> {
  const name = ckptName(state.epoch);
  const dir = path.join(runDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  await saveModel(model, dir, { ...meta, training: { epoch: state.epoch } });
  const { bytes, record } = packOptimizerState(optimizer);
  writeFileAtomic(path.join(dir, OPTIMIZER_BIN), bytes);
  const file: CheckpointFile = {
    version: 1,
    epoch: state.epoch,
    dir: name,
    lr: state.lr,
    monitor: state.monitor,
    history: state.history,
    optimizer: record,
    elapsedSeconds: state.elapsedSeconds,
  };
  writeFileAtomic(path.join(runDir, CHECKPOINT_JSON), JSON.stringify(file) + '\n');
  for (const f of fs.readdirSync(runDir)) if (/^ckpt-\d+$/.test(f) && f !== name) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
}

export function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new UserError(`cannot read "${file}": ${(err as Error).message}`);
  }
}

/** The run's checkpoint.json (undefined before the first epoch completes); its folder must exist. */
export function readCheckpoint(runDir: string): CheckpointFile | undefined {
  const file = path.join(runDir, CHECKPOINT_JSON);
  if (!fs.existsSync(file)) return undefined;
  const ck = readJson<CheckpointFile>(file);
  if (!fs.existsSync(path.join(runDir, ck.dir))) throw new UserError(`checkpoint folder "${ck.dir}" named by ${file} is missing`);
  return ck;
}

/** The model and optimizer state of the checkpoint `ck` of the run in `runDir`. */
export async function loadCheckpoint(runDir: string, ck: CheckpointFile): Promise<Resumed> {
  const file = path.join(runDir, ck.dir, OPTIMIZER_BIN);
  const optimizer = unpackOptimizerState(fs.readFileSync(file), ck.optimizer, file);
  const { model } = await loadModel(path.join(runDir, ck.dir));
  return { file: ck, model, optimizer };
}

/** The options config.json holds; an error naming the folder when there is none. */
export function readRunConfig(runDir: string): TrainOptions {
  const cfgFile = path.join(runDir, CONFIG_JSON);
  if (!fs.existsSync(cfgFile)) throw new UserError(`"${runDir}" is not a training run directory (no ${CONFIG_JSON})`);
  return readJson<{ options: TrainOptions }>(cfgFile).options;
}

export function writeRunConfig(runDir: string, options: TrainOptions): void {
  writeFileAtomic(path.join(runDir, CONFIG_JSON), JSON.stringify({ version: 1, options }, null, 2) + '\n');
}
