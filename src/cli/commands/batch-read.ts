/**
 * `facecls batch status` and `facecls batch results`. This module and its imports stay light (no
 * models, tfjs or sharp): bin/facecls.js runs these two commands through ../batch-main.ts, so that a
 * status answers in well under a second.
 */
import type { Command } from 'commander';
import { BatchReader, isVideoResult, type BatchLine, type BatchStatus } from '../../batch/results.js';
import { connectRedis, redisUrl, REDIS_OPTION_HELP } from '../../batch/redis.js';
import { readLabels, type Labels } from '../../batch/store.js';
import type { FaceResult } from '../../core/types.js';
import { UserError } from '../../errors.js';
import { AGE_COLUMNS, ageCells, csvCell, csvHeader, csvRows } from '../../output/csv.js';
import { fmt, fmtInt } from '../output.js';
import { parseFloatOption } from '../options.js';

export const BATCH_DESCRIPTION = 'batch classification of many images and videos on a Redis job queue, by `facecls worker`s on any number of machines';

function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${t % 60}s` : `${t}s`;
}

export function formatStatus(s: BatchStatus): string {
  const frac = s.entries ? s.done / s.entries : 1;
  const width = 24;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const state = s.finished ? 'finished' : `ETA ${duration(s.etaSeconds)}`;
  const frames = s.frames ? ` | ${fmtInt(s.frames)} video frames` : '';
  return `batch ${s.id} [${bar}] ${fmt(frac * 100, 1)}% | ${fmtInt(s.done)} done (${fmtInt(s.failed)} failed), ${fmtInt(s.pending)} pending of ${fmtInt(s.entries)} files${frames} | ${s.filesPerSecond === null ? '-' : fmt(s.filesPerSecond, 1)} files/s | ${state} | ${s.workers} worker(s) connected`;
}

async function withReader<T>(o: { redis?: string }, fn: (reader: BatchReader) => Promise<T>): Promise<T> {
  const url = redisUrl(o.redis, '--redis');
  const redis = await connectRedis(url);
  const reader = new BatchReader(redis, url);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
    redis.disconnect();
  }
}

interface StatusOptions {
  redis?: string;
  watch: boolean;
  interval: string;
  json: boolean;
}

/** `facecls batch status`: one status line, or (--watch) one refreshed until the batch is finished. */
async function batchStatus(id: string, o: StatusOptions): Promise<void> {
  const interval = parseFloatOption(o.interval, '--interval', 0.1, 3600);
  await withReader(o, async (reader) => {
    const tty = process.stdout.isTTY === true && !o.json;
    for (;;) {
      const s = await reader.status(id);
      const text = o.json ? JSON.stringify(s) : formatStatus(s);
      process.stdout.write(tty && o.watch ? `\r\x1b[K${text}` : text + '\n');
      if (!o.watch || s.finished) break;
      await new Promise((r) => setTimeout(r, interval * 1000));
    }
    if (tty && o.watch) process.stdout.write('\n');
  });
}

interface ResultsOptions {
  redis?: string;
  json: boolean;
  csv: boolean;
  wait: boolean;
}

/** Write to stdout, waiting for it to drain when its buffer is full. */
const out = (s: string) => (process.stdout.write(s) ? Promise.resolve() : new Promise<void>((r) => process.stdout.once('drain', () => r())));

/** `facecls batch results`: every line as JSON, or as CSV under one header (written even for no rows). */
async function batchResults(id: string, o: ResultsOptions): Promise<void> {
  if (o.json && o.csv) throw new UserError('choose one of --json and --csv');
  // `| head` closing the pipe ends the output quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  await withReader(o, async (reader) => {
    const meta = await reader.meta(id);
    let labels = await readLabels(reader.redis, id);
    let headerDone = false;
    let failed = 0;
    let lastWait = 0;
    const withVideo = meta.videos > 0;
    const header = async () => {
      await out(batchCsvHeader(labels!, withVideo) + '\n');
      headerDone = true;
    };
    const onWait = (s: BatchStatus) => {
      if (Date.now() - lastWait > 10_000) {
        lastWait = Date.now();
        process.stderr.write(formatStatus(s) + '\n');
      }
    };
    for await (const line of reader.results(id, { wait: o.wait, onWait })) {
      if (lineFailed(line)) failed++;
      if (!o.csv) {
        await out(JSON.stringify(line) + '\n');
        continue;
      }
      if (!headerDone) {
        labels ??= (await readLabels(reader.redis, id)) ?? { emotion: [], gender: [] };
        await header();
      }
      await out(batchCsvRows(line, labels!.emotion, labels!.gender, withVideo, labels!.age === true).join('\n') + '\n');
    }
    if (o.csv && !headerDone) {
      labels ??= { emotion: [], gender: [] };
      await header();
    }
    if (failed > 0) {
      process.stderr.write(`facecls: ${failed} of ${meta.entries} input(s) failed\n`);
      process.exitCode = 1;
    }
  });
}

/** Register `status` and `results` under the `batch` command. */
export function registerBatchRead(batch: Command): void {
  batch
    .command('status')
    .description('progress of a batch: done / failed / pending files, files per second, ETA, workers connected')
    .argument('<id>', 'batch id (printed by batch submit)')
    .option('--redis <url>', REDIS_OPTION_HELP)
    .option('--watch', 'refresh until the batch is finished', false)
    .option('--interval <s>', 'seconds between refreshes with --watch', '1')
    .option('--json', 'one JSON object (JSON Lines with --watch)', false)
    .action((id: string, o: StatusOptions) => batchStatus(id, o));

  batch
    .command('results')
    .description(
      "every file's result in input order, exactly one per file: JSON Lines as classify --json (a video: one object with its frames, as video --jsonl) or CSV",
    )
    .argument('<id>', 'batch id')
    .option('--redis <url>', REDIS_OPTION_HELP)
    .option('--json', 'JSON Lines (the default)', false)
    .option('--csv', 'CSV: one row per face, as classify --csv (with frame, time, track columns when the batch has videos)', false)
    .option('--wait', 'stream results as they are written, waiting for the rest (default: refuse an unfinished batch)', false)
    .action((id: string, o: ResultsOptions) => batchResults(id, o));
}

function lineFailed(l: BatchLine): boolean {
  return l.error !== undefined;
}

/** classify's CSV header, then the video columns, then (when the workers estimate age) the age columns. */
export function batchCsvHeader(labels: Labels, withVideo: boolean): string {
  return csvHeader(labels.emotion, labels.gender) + (withVideo ? ',frame,time,track' : '') + (labels.age ? ',' + AGE_COLUMNS.join(',') : '');
}

/** classify's CSV rows; a video gives one row per face per frame, with frame, time and track; the age columns last. */
export function batchCsvRows(l: BatchLine, emotionLabels: string[], genderLabels: string[], withVideo: boolean, age = false): string[] {
  const ages = (f?: FaceResult) => (age ? ',' + ageCells(f).map(csvCell).join(',') : '');
  if (!isVideoResult(l)) {
    const faces = l.faces ?? [];
    return csvRows(l, emotionLabels, genderLabels).map((r, i) => (withVideo ? r + ',,,' : r) + ages(faces[i]));
  }
  const rows: string[] = [];
  for (const fr of l.frames) {
    for (const [i, row] of csvRows({ file: l.file, width: l.width, height: l.height, faces: fr.faces }, emotionLabels, genderLabels).entries()) {
      if (fr.faces.length === 0) continue;
      rows.push(`${row},${fr.frame},${fr.time},${fr.faces[i].track}${ages(fr.faces[i])}`);
    }
  }
  if (rows.length === 0 || l.error)
    rows.push(
      ...csvRows({ file: l.file, width: l.width, height: l.height, faces: [], error: l.error }, emotionLabels, genderLabels).map((r) => r + ',,,' + ages()),
    );
  return rows;
}
