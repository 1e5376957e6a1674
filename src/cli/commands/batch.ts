/**
 * `facecls batch submit` and `facecls worker` (status and results: ./batch-read.ts): batch
 * classification of many images and long videos on a Redis job queue (BullMQ), with workers on any
 * number of machines (src/batch).
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { connectRedis, redisUrl, REDIS_OPTION_HELP } from '../../batch/redis.js';
import { DEFAULT_CHUNK_SIZE, DEFAULT_SEGMENT_SECONDS, submitBatch, VIDEO_EXTENSIONS } from '../../batch/submit.js';
import { startWorker } from '../../batch/worker.js';
import { UserError } from '../../errors.js';
import type { InputItem } from '../../pipeline/file-result.js';
import { fmtInt } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';
import { expandInputs, IMAGE_EXTENSIONS } from '../../inputs/expand.js';
import { FILES_FROM_HELP, listEntries } from '../files-from.js';
import { addPipelineOptions, classifierOptions, type PipelineCliOptions } from '../pipeline-options.js';
import { BATCH_DESCRIPTION, registerBatchRead } from './batch-read.js';

const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([...IMAGE_EXTENSIONS, ...VIDEO_EXTENSIONS]);

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
  const batch = program.command('batch').description(BATCH_DESCRIPTION);

  const submit = batch
    .command('submit')
    .description('enqueue images and/or videos (paths every worker can read, or http(s) URLs); prints the batch id and returns')
    .argument('[inputs...]', 'image or video files, directories (searched recursively), globs or http(s) URLs')
    .option('--files-from <file|->', `${FILES_FROM_HELP}; entries are taken as they are (no stat, no expansion)`)
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
    let entries: InputItem[] = expandInputs(inputs, { extensions: MEDIA_EXTENSIONS });
    if (o.filesFrom !== undefined) entries = entries.concat(await listEntries(o.filesFrom)); // (no push(...): millions of entries)
    if (entries.length === 0) throw new UserError('nothing to submit: give inputs and/or --files-from <file>');
    const url = redisUrl(o.redis, '--redis');
    const redis = await connectRedis(url);
    try {
      const pipeline: PipelineCliOptions = {
        // Model directories as absolute paths: workers run elsewhere (the same paths must exist there).
        detector: o.detector,
        emotionModel: o.emotionModel && path.resolve(o.emotionModel),
        genderModel: o.genderModel && path.resolve(o.genderModel),
        ageModel: o.ageModel && path.resolve(o.ageModel),
        accurate: o.accurate,
        tta: o.tta,
        emotion: o.emotion,
        gender: o.gender,
        age: o.age,
        runtime: o.runtime,
        margin: o.margin,
        minFaceSize: o.minFaceSize,
        scoreThreshold: o.scoreThreshold,
        maxFaces: o.maxFaces,
        maxPixels: o.maxPixels,
        tiles: o.tiles,
        align: o.align,
        cropFraming: o.cropFraming,
      };
      const s = await submitBatch(redis, url, entries, { options: { pipeline, crops: o.crops, smooth }, chunkSize, segmentSeconds });
      process.stdout.write(o.json ? JSON.stringify(s) + '\n' : s.id + '\n');
      if (!o.json)
        process.stderr.write(
          `facecls: batch ${s.id}: ${fmtInt(s.entries)} input(s) (${fmtInt(s.images)} image(s), ${fmtInt(s.videos)} video(s)) in ${fmtInt(s.jobs)} job(s); follow it with \`facecls batch status ${s.id} --watch\`\n`,
        );
    } finally {
      redis.disconnect();
    }
  });

  registerBatchRead(batch);
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
      const url = redisUrl(o.redis, '--redis');
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
