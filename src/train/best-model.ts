/**
 * Best-model saving (Keras' ModelCheckpoint with save_best_only): the selection metric and its
 * direction, and the run's best/ folder, replaced by rename so a crash leaves the old or the new one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';
import { saveModel, type ModelMeta } from '../io/model-store.js';
import type { EpochRecord } from './options.js';

export const BEST_DIR = 'best';

/**
 * A validation metric that can select the best epoch. `value` reads it from an epoch's record;
 * `mode` says whether lower ('min') or higher ('max') is better.
 */
export interface SelectionMetric {
  name: string;
  /** How the console log names it ("best val loss 0.9 at epoch 3"). */
  label: string;
  /** How a model card names it ("best epoch by validation loss"). */
  title: string;
  mode: 'min' | 'max';
  value: (rec: EpochRecord) => number;
}

/** The metrics a run can select by; a new task adds its own (e.g. a regression's validation MAE, 'min'). */
export const SELECTION_METRICS = {
  val_loss: { name: 'val_loss', label: 'val loss', title: 'validation loss', mode: 'min', value: (r) => r.valLoss },
  val_accuracy: { name: 'val_accuracy', label: 'val accuracy', title: 'validation accuracy', mode: 'max', value: (r) => r.valAcc },
  // Age runs: mean absolute error in years of the expected age (src/data/age.ts); NaN elsewhere, never selects.
  val_mae: { name: 'val_mae', label: 'val MAE', title: 'validation mean absolute error (years)', mode: 'min', value: (r) => r.valMae ?? NaN },
} satisfies Record<string, SelectionMetric>;

export type SelectionMetricName = keyof typeof SELECTION_METRICS;

/** The metric named `name` (default val_loss); an unknown name is an error listing the known ones. */
export function selectionMetric(name: string = 'val_loss'): SelectionMetric {
  const m = (SELECTION_METRICS as Record<string, SelectionMetric>)[name];
  if (!m) throw new UserError(`unknown selection metric "${name}": choose one of ${Object.keys(SELECTION_METRICS).join(', ')}`);
  return m;
}

/** The value a metric starts from before any epoch: nothing is better than it. */
export function worstValue(metric: Pick<SelectionMetric, 'mode'>): number {
  return metric.mode === 'min' ? Infinity : -Infinity;
}

/** Is `value` better than `best` by more than `minDelta` (Keras min_delta semantics)? */
export function improves(metric: Pick<SelectionMetric, 'mode'>, value: number, best: number, minDelta = 1e-4): boolean {
  return metric.mode === 'min' ? value < best - minDelta : value > best + minDelta;
}

/** Replace `dst` folder with `src` folder (rename-based; a crash leaves either the old or the new one). */
export function swapDir(src: string, dst: string): void {
  const old = `${dst}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dst)) fs.renameSync(dst, old);
  fs.renameSync(src, dst);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Save `model` as the run's best model (meta.training says which epoch and how it scored). */
export async function saveBest(runDir: string, model: tf.LayersModel, meta: ModelMeta): Promise<void> {
  const tmp = path.join(runDir, `${BEST_DIR}.tmp`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await saveModel(model, tmp, meta);
  swapDir(tmp, path.join(runDir, BEST_DIR));
}

/** A crash inside swapDir can leave only best.old: put it back. */
export function restoreBest(runDir: string): void {
  const best = path.join(runDir, BEST_DIR);
  if (!fs.existsSync(best) && fs.existsSync(`${best}.old`)) fs.renameSync(`${best}.old`, best);
}
