/**
 * What a run writes for people (Keras' CSVLogger and History):
 *   log.csv          one row per completed epoch (per-dataset validation columns when several)
 *   loss.png, accuracy.png   curves
 *   sessions.jsonl   one line per process that trained the run (new or --resume)
 *   training.json    summary when the run ends (stop reason, best epoch, skipped inputs)
 * and the one-line epoch summary of the console log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/fs-handler.js';
import type { EpochRecord, TrainSummary } from './options.js';
import { writeChartPng } from './plot.js';
import { fmtDuration } from './progress.js';

export const LOG_CSV = 'log.csv';
export const SESSIONS_JSONL = 'sessions.jsonl';
export const TRAINING_JSON = 'training.json';

/** log.csv's text for `history`; with several datasets (`sourceNames`), a val loss and accuracy column pair per dataset. */
export function csvLog(history: EpochRecord[], sourceNames: string[] = []): string {
  const perSource = sourceNames.length > 1 ? sourceNames.flatMap((n) => [`val_loss_${n}`, `val_accuracy_${n}`]) : [];
  // Age runs add val_mae (years) as the last column.
  const mae = history.some((h) => h.valMae !== undefined);
  const head = ['epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds', ...perSource, ...(mae ? ['val_mae'] : [])].join(',');
  const row = (h: EpochRecord) => {
    const extra = perSource.length
      ? sourceNames.flatMap((n) => {
          const v = h.valSources?.find((x) => x.name === n);
          return [v?.loss ?? '', v?.acc ?? ''];
        })
      : [];
    return [h.epoch, h.lr, h.loss, h.acc, h.valLoss, h.valAcc, h.seconds.toFixed(1), ...extra, ...(mae ? [h.valMae ?? ''] : [])].join(',');
  };
  return [head, ...history.map(row)].join('\n') + '\n';
}

export function writeLogCsv(runDir: string, history: EpochRecord[], sourceNames: string[] = []): void {
  writeFileAtomic(path.join(runDir, LOG_CSV), csvLog(history, sourceNames));
}

/** loss.png and accuracy.png: train and validation curves over the epochs; age runs add mae.png (validation MAE). */
export async function writePlots(runDir: string, history: EpochRecord[]): Promise<void> {
  const pts = (f: (h: EpochRecord) => number) => history.map((h) => [h.epoch, f(h)] as [number, number]);
  await writeChartPng(path.join(runDir, 'loss.png'), 'Loss (cross-entropy)', 'epoch', [
    { name: 'train', color: '#1f77b4', points: pts((h) => h.loss) },
    { name: 'validation', color: '#d62728', points: pts((h) => h.valLoss) },
  ]);
  await writeChartPng(path.join(runDir, 'accuracy.png'), 'Accuracy', 'epoch', [
    { name: 'train', color: '#1f77b4', points: pts((h) => h.acc) },
    { name: 'validation', color: '#d62728', points: pts((h) => h.valAcc) },
  ]);
  if (history.some((h) => h.valMae !== undefined)) {
    await writeChartPng(path.join(runDir, 'mae.png'), 'Validation MAE (years)', 'epoch', [
      { name: 'validation MAE', color: '#d62728', points: pts((h) => h.valMae ?? NaN) },
    ]);
  }
}

/** After each epoch: log.csv and the curves. */
export async function writeEpochLogs(runDir: string, history: EpochRecord[], sourceNames: string[]): Promise<void> {
  writeLogCsv(runDir, history, sourceNames);
  await writePlots(runDir, history);
}

export interface TrainSession {
  started: string;
  resumed: boolean;
  /** Epochs already complete when this session started. */
  fromEpoch: number;
  workers: number | null;
  backend: string;
}

/** One line per process that trained the run (new or --resume), so a shipped card can say how it was made. */
export function appendSession(runDir: string, s: TrainSession): void {
  fs.appendFileSync(path.join(runDir, SESSIONS_JSONL), JSON.stringify(s) + '\n');
}

/** The sessions recorded for a run; lines that do not parse (e.g. cut by a crash) are skipped. */
export function readSessions(runDir: string): TrainSession[] {
  const file = path.join(runDir, SESSIONS_JSONL);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        const v = JSON.parse(line) as TrainSession;
        return v && typeof v.started === 'string' ? [v] : [];
      } catch {
        return [];
      }
    });
}

/** training.json: the summary without the per-epoch history (log.csv has it). */
export function writeTrainingJson(runDir: string, summary: TrainSummary): void {
  writeFileAtomic(path.join(runDir, TRAINING_JSON), JSON.stringify({ ...summary, history: undefined }, null, 2) + '\n');
}

/** What the console line of an epoch shows besides its record. */
export interface EpochNote {
  epochs: number;
  /** Seconds spent in training steps, and their count (ms/batch). */
  trainSeconds: number;
  batches: number;
  multi: boolean;
  improved: boolean;
  /** The learning rate the plateau schedule moves to, when it just reduced it. */
  reducedTo?: number;
}

/** The console line summarising epoch `r`. */
export function epochLine(r: EpochRecord, n: EpochNote): string {
  return (
    `epoch ${r.epoch}/${n.epochs}: loss ${r.loss.toFixed(4)} acc ${r.acc.toFixed(4)} | val loss ${r.valLoss.toFixed(4)} acc ${r.valAcc.toFixed(4)}${r.valMae !== undefined ? ` MAE ${r.valMae.toFixed(3)}` : ''} | lr ${r.lr.toPrecision(3)} | ` +
    `${fmtDuration(r.seconds)} (train ${fmtDuration(n.trainSeconds)}, ${((n.trainSeconds * 1000) / Math.max(1, n.batches)).toFixed(0)} ms/batch)` +
    (n.multi ? ` | ${(r.valSources ?? []).map((v) => `${v.name} ${v.loss.toFixed(4)} / ${v.acc.toFixed(4)}`).join(', ')}` : '') +
    (n.improved ? ' | best' : '') +
    (n.reducedTo !== undefined ? ` | lr -> ${n.reducedTo.toPrecision(3)}` : '')
  );
}
