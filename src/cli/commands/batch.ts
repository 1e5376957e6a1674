/**
 * `facecls batch submit|status|results` and `facecls worker`: batch classification of many images
 * and long videos on a Redis job queue (BullMQ), with workers on any number of machines (src/batch).
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import type { Command } from 'commander';
import { BatchReader, isVideoResult, type BatchLine, type BatchStatus } from '../../batch/results.js';
import { connectRedis, redisUrl, REDIS_OPTION_HELP } from '../../batch/redis.js';
import { readLabels } from '../../batch/store.js';
import { DEFAULT_CHUNK_SIZE, DEFAULT_SEGMENT_SECONDS, submitBatch, VIDEO_EXTENSIONS } from '../../batch/submit.js';
import { startWorker } from '../../batch/worker.js';
import { UserError } from '../../errors.js';
import type { InputItem } from '../../pipeline/file-result.js';
import { fmt, fmtInt } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';
import { addPipelineOptions, classifierOptions, csvHeader, csvRows, expandInputs, IMAGE_EXTENSIONS, type PipelineCliOptions } from './classify.js';

const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([...IMAGE_EXTENSIONS, ...VIDEO_EXTENSIONS]);

/** Lines of a list file ("-": stdin), blank lines skipped, taken as they are (no globbing, no stat). */
export async function readList(file: string): Promise<InputItem[]> {
  let input: NodeJS.ReadableStream;
  if (file === '-') input = process.stdin;
  else {
    try {
      if (!fs.statSync(file).isFile()) throw new UserError(`--files-from "${file}" is not a file`);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`cannot read --files-from "${file}": no such file`);
    }
    input = fs.createReadStream(file);
  }
  const out: InputItem[] = [];
  for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
    const t = line.trim();
    if (t) out.push({ file: t });
  }
  return out;
}

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
  const url = redisUrl(o.redis);
  const redis = await connectRedis(url);
  const reader = new BatchReader(redis, url);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
    redis.disconnect();
  }
}

interface SubmitCliOptions extends PipelineCliOptions {
  filesFrom?: string;
  redis?: string;
  chunkSize: string;
  segmentSeconds: string;
  crops: boolean;
  smooth: string;
  json: boolean;
}

export function registerBatch(program: Command): void {
  const batch = program.command('batch').description('batch classification of many images and videos on a Redis job queue, by `facecls worker`s on any number of machines');

  const submit = batch
    .command('submit')
    .description('enqueue images and/or videos (paths every worker can read, or http(s) URLs); prints the batch id and returns')
    .argument('[inputs...]', 'image or video files, directories (searched recursively), globs or http(s) URLs')
    .option('--files-from <file>', 'also read inputs from this list, one per line ("-" for stdin), taken as they are')
    .option('--redis <url>', REDIS_OPTION_HELP)
    .option('--chunk-size <n>', 'images per job', String(DEFAULT_CHUNK_SIZE))
    .option('--segment-seconds <s>', 'videos are split into time segments of this length, processed in parallel', String(DEFAULT_SEGMENT_SECONDS))
    .option('--crops', 'inputs are already face crops: skip detection (as classify --crops)', false)
    .option('--smooth <frames>', "videos: average each track's probabilities over this many frames (as video --smooth)", '1')
    .option('--json', 'print {"id","jobs","entries","images","videos"} instead of the id alone', false);
  addPipelineOptions(submit).action(async (inputs: string[], o: SubmitCliOptions) => {
    classifierOptions(o); // the same checks as classify: a bad option fails here, not in every worker
    const smooth = parseIntOption(o.smooth, '--smooth', 1, 1000);
    const chunkSize = parseIntOption(o.chunkSize, '--chunk-size', 1, 100_000);
    const segmentSeconds = parseFloatOption(o.segmentSeconds, '--segment-seconds', 0.1, 1e6);
    const entries: InputItem[] = expandInputs(inputs, MEDIA_EXTENSIONS);
    if (o.filesFrom !== undefined) entries.push(...(await readList(o.filesFrom)));
    if (entries.length === 0) throw new UserError('nothing to submit: give inputs and/or --files-from <file>');
    const url = redisUrl(o.redis);
    const redis = await connectRedis(url);
    try {
      const pipeline: PipelineCliOptions = {
        detector: o.detector, emotionModel: o.emotionModel, genderModel: o.genderModel, accurate: o.accurate, tta: o.tta,
        emotion: o.emotion, gender: o.gender, runtime: o.runtime, margin: o.margin, minFaceSize: o.minFaceSize,
        scoreThreshold: o.scoreThreshold, maxFaces: o.maxFaces, maxPixels: o.maxPixels, tiles: o.tiles,
      };
      const s = await submitBatch(redis, url, entries, { options: { pipeline, crops: o.crops, smooth }, chunkSize, segmentSeconds });
      process.stdout.write(o.json ? JSON.stringify(s) + '\n' : s.id + '\n');
      if (!o.json) process.stderr.write(`facecls: batch ${s.id}: ${fmtInt(s.entries)} input(s) (${fmtInt(s.images)} image(s), ${fmtInt(s.videos)} video(s)) in ${fmtInt(s.jobs)} job(s); follow it with \`facecls batch status ${s.id} --watch\`\n`);
    } finally {
      redis.disconnect();
    }
  });

  batch
    .command('status')
    .description('progress of a batch: done / failed / pending files, files per second, ETA, workers connected')
    .argument('<id>', 'batch id (printed by batch submit)')
    .option('--redis <url>', REDIS_OPTION_HELP)
    .option('--watch', 'refresh until the batch is finished', false)
    .option('--interval <s>', 'seconds between refreshes with --watch', '1')
    .option('--json', 'one JSON object (JSON Lines with --watch)', false)
    .action(async (id: string, o: { redis?: string; watch: boolean; interval: string; json: boolean }) => {
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
    });

  batch
    .command('results')
    .description("every file's result in input order, exactly one per file: JSON Lines as classify --json (a video: one object with its frames, as video --jsonl) or CSV")
    .argument('<id>', 'batch id')
    .option('--redis <url>', REDIS_OPTION_HELP)
    .option('--json', 'JSON Lines (the default)', false)
    .option('--csv', 'CSV: one row per face, as classify --csv (with frame, time, track columns when the batch has videos)', false)
    .option('--wait', 'stream results as they are written, waiting for the rest (default: refuse an unfinished batch)', false)
    .action(async (id: string, o: { redis?: string; json: boolean; csv: boolean; wait: boolean }) => {
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
        const out = (s: string) => (process.stdout.write(s) ? Promise.resolve() : new Promise<void>((r) => process.stdout.once('drain', () => r())));
        for await (const line of reader.results(id, { wait: o.wait, onWait: (s) => {
          if (Date.now() - lastWait > 10_000) {
            lastWait = Date.now();
            process.stderr.write(formatStatus(s) + '\n');
          }
        } })) {
          if (lineFailed(line)) failed++;
          if (!o.csv) {
            await out(JSON.stringify(line) + '\n');
            continue;
          }
          if (!headerDone) {
            labels ??= (await readLabels(reader.redis, id)) ?? { emotion: [], gender: [] };
            await out(csvHeader(labels.emotion, labels.gender) + (withVideo ? ',frame,time,track' : '') + '\n');
            headerDone = true;
          }
          await out(batchCsvRows(line, labels!.emotion, labels!.gender, withVideo).join('\n') + '\n');
        }
        if (o.csv && !headerDone) {
          labels ??= { emotion: [], gender: [] };
          await out(csvHeader(labels.emotion, labels.gender) + (withVideo ? ',frame,time,track' : '') + '\n');
        }
        if (failed > 0) {
          process.stderr.write(`facecls: ${failed} of ${meta.entries} input(s) failed\n`);
          process.exitCode = 1;
        }
      });
    });
}

function lineFailed(l: BatchLine): boolean {
  return l.error !== undefined;
}

/** classify's CSV rows; a video gives one row per face per frame, with frame, time and track. */
export function batchCsvRows(l: BatchLine, emotionLabels: string[], genderLabels: string[], withVideo: boolean): string[] {
  if (!isVideoResult(l)) return csvRows(l, emotionLabels, genderLabels).map((r) => (withVideo ? r + ',,,' : r));
  const rows: string[] = [];
  for (const fr of l.frames) {
    for (const [i, row] of csvRows({ file: l.file, width: l.width, height: l.height, faces: fr.faces }, emotionLabels, genderLabels).entries()) {
      if (fr.faces.length === 0) continue;
      rows.push(`${row},${fr.frame},${fr.time},${fr.faces[i].track}`);
    }
  }
  if (rows.length === 0 || l.error) rows.push(...csvRows({ file: l.file, width: l.width, height: l.height, faces: [], error: l.error }, emotionLabels, genderLabels).map((r) => r + ',,,'));
  return rows;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('take batch jobs from the Redis queue and run them (any number of workers, on any machines); SIGTERM finishes the running jobs and stops')
    .option('--redis <url>', REDIS_OPTION_HELP)
    .option('--concurrency <n>', 'jobs at once in this process', '1')
    .option('--stall-seconds <s>', 'a job whose worker stops renewing its lock (killed, frozen) goes back to the queue after this long', '30')
    .option('--name <name>', 'worker name in logs (default host:pid)')
    .action(async (o: { redis?: string; concurrency: string; stallSeconds: string; name?: string }, c: Command) => {
      const concurrency = parseIntOption(o.concurrency, '--concurrency', 1, 256);
      const stallSeconds = parseFloatOption(o.stallSeconds, '--stall-seconds', 1, 86_400);
      const url = redisUrl(o.redis);
      const redis = await connectRedis(url, { worker: true });
      const w = startWorker({ redisUrl: url, redis, concurrency, stallSeconds, backend: c.optsWithGlobals().backend, name: o.name });
      let signalled = false;
      const stop = (signal: NodeJS.Signals) => {
        if (signalled) {
          // A second signal: stop now (the running jobs go back to the queue after the stall interval).
          process.stderr.write(`facecls worker: ${signal} again: stopping without finishing\n`);
          process.exit(signal === 'SIGINT' ? 130 : 143);
        }
        signalled = true;
        process.stderr.write(`facecls worker: ${signal}: finishing the running job(s), then stopping (send it again to stop at once)\n`);
        void w.close();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      await w.started;
      process.stderr.write(`facecls worker: ready (queue on ${url.replace(/\/\/[^@]*@/, '//***@')}, concurrency ${concurrency})\n`);
      await w.closed;
      redis.disconnect();
      process.stderr.write('facecls worker: stopped\n');
    });
}
