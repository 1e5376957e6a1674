/**
 * When a run stops: divergence (a non-finite training or validation loss ends it with an error that
 * says which checkpoint stands), early stopping (no improvement of the selection metric for
 * `patience` epochs) and the --max-minutes time limit.
 */
import { UserError } from '../errors.js';
import type { StepResult } from '../engine/trainer-types.js';
import type { StopReason } from './options.js';
import type { MonitorState } from './schedule.js';

export class TrainingDivergedError extends UserError {
  constructor(message: string) {
    super(message, { reason: 'diverged' });
  }
}

/** Where a step ran: the epoch, its 1-based batch, the run directory and the last complete epoch (0 = none). */
export interface StepPlace {
  epoch: number;
  batch: number;
  runDir: string;
  lastGoodEpoch: number;
}

/** A training step whose loss (or regularisation loss) is not finite ends the run. */
export function checkStep(r: Pick<StepResult, 'loss' | 'regularizationLoss'>, at: StepPlace): void {
  if (Number.isFinite(r.loss) && Number.isFinite(r.regularizationLoss)) return;
  const kept =
    at.lastGoodEpoch > 0 ? `the last good checkpoint (epoch ${at.lastGoodEpoch}) is kept in ${at.runDir}` : 'no epoch had completed, so there is no checkpoint';
  throw new TrainingDivergedError(`training diverged: the loss became ${r.loss} at epoch ${at.epoch}, batch ${at.batch}; ${kept}`);
}

/** A validation loss that is not finite ends the run; the previous epoch's checkpoint stands. */
export function checkValidation(valLoss: number, epoch: number, runDir: string): void {
  if (Number.isFinite(valLoss)) return;
  throw new TrainingDivergedError(
    `training diverged: validation loss is ${valLoss} after epoch ${epoch}; the last good checkpoint (epoch ${epoch - 1}) is kept in ${runDir}`,
  );
}

/** Early stopping is due: `patience` > 0 epochs have passed without improvement. */
export function earlyStopDue(monitor: Pick<MonitorState, 'sinceBest'>, patience: number): boolean {
  return patience > 0 && monitor.sinceBest >= patience;
}

/** Before an epoch: stop when another epoch as long as the last would pass the deadline, or early stopping is due. */
export function stopBeforeEpoch(
  now: number,
  lastEpochSeconds: number,
  deadline: number,
  monitor: Pick<MonitorState, 'sinceBest'>,
  patience: number,
): StopReason | undefined {
  if (now + lastEpochSeconds * 1000 > deadline) return 'time-limit';
  if (earlyStopDue(monitor, patience)) return 'early-stopping';
  return undefined;
}

/**
 * The reason a run ended: a loop that ran out of epochs right when early stopping became due,
 * before the planned last epoch, stopped early.
 */
export function finalStopReason(
  loopReason: StopReason,
  monitor: Pick<MonitorState, 'sinceBest'>,
  patience: number,
  lastEpoch: number | undefined,
  epochs: number,
): StopReason {
  if (loopReason === 'completed' && earlyStopDue(monitor, patience) && lastEpoch !== undefined && lastEpoch < epochs) return 'early-stopping';
  return loopReason;
}
