/** Learning-rate schedules and the plateau / early-stopping bookkeeping (Keras callback semantics). */
import { improves, worstValue, type SelectionMetric } from './best-model.js';

export type ScheduleName = 'plateau' | 'cosine' | 'step' | 'constant';
export const SCHEDULES: readonly ScheduleName[] = ['plateau', 'cosine', 'step', 'constant'];

export interface ScheduleConfig {
  name: ScheduleName;
  /** Initial learning rate. */
  lr: number;
  /** Floor for every schedule. */
  minLr: number;
  /** Linear warm-up epochs (from lr/10 to lr) before the schedule proper. */
  warmupEpochs: number;
  /** plateau: multiply by `factor` after `patience` epochs without val-loss improvement (paper: 0.1, 12). */
  factor: number;
  patience: number;
  /** step: multiply by `factor` every `stepEpochs` epochs. */
  stepEpochs: number;
  /** cosine: anneal from lr to minLr over this many epochs (the run's --epochs). */
  epochs: number;
}

/** Learning rate for a 1-based epoch under a time-based schedule (plateau/constant: the base lr). */
export function scheduledLr(c: ScheduleConfig, epoch: number): number {
  if (c.warmupEpochs > 0 && epoch <= c.warmupEpochs) return Math.max(c.minLr, c.lr * (0.1 + (0.9 * (epoch - 1)) / c.warmupEpochs));
  const e = epoch - 1 - c.warmupEpochs;
  switch (c.name) {
    case 'cosine': {
      const total = Math.max(1, c.epochs - c.warmupEpochs);
      const t = Math.min(1, e / Math.max(1, total - 1));
      return c.minLr + 0.5 * (c.lr - c.minLr) * (1 + Math.cos(Math.PI * t));
    }
    case 'step':
      return Math.max(c.minLr, c.lr * Math.pow(c.factor, Math.floor(e / Math.max(1, c.stepEpochs))));
    default:
      return c.lr;
  }
}

/** State carried across epochs (and checkpoints) for plateau reduction and early stopping. */
export interface MonitorState {
  /** Best value so far of the selection metric (val loss by default; the name is what checkpoint.json stores). */
  bestValLoss: number;
  bestEpoch: number;
  /** Epochs since the last improvement (early stopping). */
  sinceBest: number;
  /** Epochs since the last improvement or LR reduction (plateau). */
  plateauWait: number;
  /** Current LR of the plateau schedule. */
  plateauLr: number;
}

export function initialMonitor(lr: number, metric: Pick<SelectionMetric, 'mode'> = { mode: 'min' }): MonitorState {
  return { bestValLoss: worstValue(metric), bestEpoch: 0, sinceBest: 0, plateauWait: 0, plateauLr: lr };
}

/**
 * Update after an epoch with its value of the selection metric (val loss unless `metric` says
 * otherwise); returns whether this epoch is a new best. Keras min_delta semantics: strictly better by minDelta.
 */
export function observe(
  m: MonitorState,
  epoch: number,
  value: number,
  c: ScheduleConfig,
  minDelta = 1e-4,
  metric: Pick<SelectionMetric, 'mode'> = { mode: 'min' },
): { improved: boolean; reducedLr: boolean } {
  const improved = improves(metric, value, m.bestValLoss, minDelta);
  let reducedLr = false;
  if (improved) {
    m.bestValLoss = value;
    m.bestEpoch = epoch;
    m.sinceBest = 0;
    m.plateauWait = 0;
  } else {
    m.sinceBest++;
    m.plateauWait++;
    if (c.name === 'plateau' && m.plateauWait >= c.patience && m.plateauLr > c.minLr) {
      m.plateauLr = Math.max(c.minLr, m.plateauLr * c.factor);
      m.plateauWait = 0;
      reducedLr = true;
    }
  }
  return { improved, reducedLr };
}

/** LR to use in a 1-based epoch. */
export function lrForEpoch(c: ScheduleConfig, m: MonitorState, epoch: number): number {
  if (c.name === 'plateau') return c.warmupEpochs > 0 && epoch <= c.warmupEpochs ? scheduledLr(c, epoch) : m.plateauLr;
  return scheduledLr(c, epoch);
}
