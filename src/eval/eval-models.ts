/**
 * The models an evaluation runs: opened from folders (or given open), checked to be one task and to
 * agree on their labels, and run without TTA (evaluate applies it itself, keeping each view).
 */
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-store.js';
import { createRuntime } from '../runtime/factory.js';
import type { InferenceRuntime } from '../runtime/types.js';

export type ModelSpec = string | InferenceRuntime;

/** How a model is named in messages and reports: its folder, or "(runtime)" for an open one. */
export const specName = (m: ModelSpec): string => (typeof m === 'string' ? m : '(runtime)');

/** The split parameters a model was trained with. */
export interface TrainingInfo {
  splitSeed?: number;
  valFraction?: number;
  testFraction?: number;
}

/** The training info of a model; an ensemble's members share one split (ship checks it), the ensemble itself records none. */
export function trainingInfo(meta: ModelMeta): TrainingInfo {
  const members = (meta.ensemble as { members?: { training?: TrainingInfo }[] } | undefined)?.members;
  return (meta.training ?? members?.[0]?.training ?? {}) as TrainingInfo;
}

function checkAgree(specs: ModelSpec[], runtimes: InferenceRuntime[], expectTask: string | undefined): void {
  const first = runtimes[0].meta;
  runtimes.forEach((r, i) => {
    if (expectTask !== undefined && r.meta.task !== expectTask)
      throw new UserError(`model "${specName(specs[i])}" is a ${r.meta.task} model, not ${expectTask}`);
    if (r.meta.labels.join() !== first.labels.join()) {
      throw new UserError(
        `ensemble members disagree on labels: "${specName(specs[i])}" has ${r.meta.labels.join(', ')}, "${specName(specs[0])}" has ${first.labels.join(', ')}`,
      );
    }
  });
}

/**
 * Opens the models of `specs` into `owned` (those made here, for the caller to dispose, even when this
 * throws) and returns every runtime in order.
 */
export async function openEvalModels(
  specs: ModelSpec[],
  o: { runtime?: string; backend?: string; expectTask?: string },
  owned: InferenceRuntime[],
): Promise<InferenceRuntime[]> {
  if (specs.length === 0) throw new UserError('no model to evaluate');
  const runtimes: InferenceRuntime[] = [];
  for (const m of specs) {
    const r = typeof m === 'string' ? await createRuntime(m, { runtime: o.runtime, backend: o.backend, tta: 'none' }) : m;
    if (typeof m === 'string') owned.push(r);
    runtimes.push(r);
    if (r.tta !== 'none')
      throw new UserError(
        `evaluate applies test-time augmentation itself (tta option): pass runtimes created with tta 'none', not "${specName(m)}" (tta ${r.tta})`,
      );
  }
  checkAgree(specs, runtimes, o.expectTask);
  return runtimes;
}
