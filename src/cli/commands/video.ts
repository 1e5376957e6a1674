/**
 * `facecls video <input> -o out.mp4 [--jsonl frames.jsonl] [--saliency [method]]`: every frame through
 * the pipeline with face tracking, via ffmpeg (raw frames over pipes, audio kept). With --saliency,
 * each face's saliency map (src/viz, as `facecls saliency`) is blended into the video under the
 * annotation. A broken input stops with a clear message; the video and JSON lines written up to that
 * frame stay valid.
 */
import { CLASSIFIER_TASKS } from '../../core/types.js';
import * as path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { UserError } from '../../errors.js';
import { FaceClassifier } from '../../pipeline/face-classifier.js';
import { probeVideo } from '../../pipeline/ffmpeg.js';
import { SaliencyOverlay, type SaliencyTask } from '../../pipeline/saliency-overlay.js';
import { processStream } from '../../pipeline/video.js';
import { isSaliencyMethod, SALIENCY_METHODS, type SaliencyMethod } from '../../viz/saliency.js';
import { parseIntOption } from '../options.js';
import { addPipelineOptions, classifierOptions, type PipelineCliOptions } from '../pipeline-options.js';

export interface StreamCliOptions extends PipelineCliOptions {
  jsonl?: string;
  smooth: string;
  maxFrames?: string;
}

export function addStreamOptions(cmd: Command): Command {
  return cmd
    .option('--jsonl <file>', 'write one JSON line per frame (frame, time, faces with track ids); "-" for stdout')
    .option('--smooth <frames>', "average each track's probabilities over this many frames (1 = off; the paper used 10)", '1')
    .option('--max-frames <n>', 'stop after this many frames');
}

interface SaliencyCliOptions {
  saliency?: string | boolean;
  saliencyTask?: string;
}

/** --saliency [method] and --saliency-task, checked; undefined when --saliency is not given. */
export function parseSaliencyOptions(o: SaliencyCliOptions, output: string | undefined): { method: SaliencyMethod; task: SaliencyTask } | undefined {
  if (o.saliency === undefined || o.saliency === false) {
    if (o.saliencyTask !== undefined) throw new UserError('--saliency-task needs --saliency');
    return undefined;
  }
  const method = o.saliency === true ? 'guided' : o.saliency;
  if (!isSaliencyMethod(method)) throw new UserError(`unknown saliency method "${method}": choose one of ${SALIENCY_METHODS.join(', ')}`);
  const task = o.saliencyTask ?? 'emotion';
  if (!(CLASSIFIER_TASKS as readonly string[]).includes(task)) throw new UserError(`unknown --saliency-task "${task}": choose ${CLASSIFIER_TASKS.join(', ')}`);
  if (!output) throw new UserError('--saliency draws on the output video: give -o <video>');
  return { method, task: task as SaliencyTask };
}

export function registerVideo(program: Command): void {
  const cmd = program
    .command('video')
    .description('detect, classify and track faces in a video; write an annotated video and/or JSON lines')
    .argument('<input>', 'video file (anything ffmpeg reads)')
    .option('-o, --output <file>', 'annotated video (.mp4, .mov, .mkv, .webm); audio is kept')
    .option('--saliency [method]', `blend each face's saliency map for its shown class into the video: ${SALIENCY_METHODS.join(' | ')} (default guided)`)
    .option('--saliency-task <task>', 'model the --saliency maps explain: emotion (default) | gender | age (the age estimate)')
    .option('--no-progress', 'no progress bar on stderr');
  addStreamOptions(addPipelineOptions(cmd)).action(
    async (input: string, o: StreamCliOptions & SaliencyCliOptions & { output?: string; progress: boolean }, c: Command) => {
      if (!o.output && !o.jsonl) throw new UserError('nothing to write: give -o <video> and/or --jsonl <file>');
      const saliency = parseSaliencyOptions(o, o.output);
      if (o.output && path.resolve(o.output) === path.resolve(input)) throw new UserError('--output must differ from the input video');
      const window = parseIntOption(o.smooth, '--smooth', 1, 1000);
      const maxFrames = o.maxFrames === undefined ? undefined : parseIntOption(o.maxFrames, '--max-frames', 1);
      const info = probeVideo(input);
      const fc = await FaceClassifier.load(classifierOptions(o, c.optsWithGlobals().backend));
      let overlay: SaliencyOverlay | undefined;
      try {
        if (saliency) overlay = await SaliencyOverlay.load(fc, saliency);
      } catch (err) {
        await fc.dispose();
        throw err;
      }
      const total = Math.min(info.frames ?? Infinity, maxFrames ?? Infinity);
      const bar = o.progress
        ? new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: 'video [{bar}] {value}/{total} frames | {fps} frames/s | {eta_formatted} left',
              hideCursor: true,
              noTTYOutput: true,
              notTTYSchedule: 5000,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      bar?.start(Number.isFinite(total) ? total : 0, 0, { fps: '-' });
      const stop = { requested: false };
      const onSigint = () => (stop.requested = true);
      process.once('SIGINT', onSigint);
      const t0 = performance.now();
      try {
        const summary = await processStream(fc, {
          inputArgs: ['-i', input],
          label: `video "${input}"`,
          width: info.width,
          height: info.height,
          fps: info.fps,
          output: o.output,
          underlay: overlay && ((image, faces) => overlay.apply(image, faces)),
          audioFrom: info.hasAudio ? input : undefined,
          jsonl: o.jsonl === '-' ? process.stdout : o.jsonl,
          window,
          maxFrames,
          stop,
          onFrame: (r) => bar?.update(r.frame + 1, { fps: ((r.frame + 1) / ((performance.now() - t0) / 1000)).toFixed(1) }),
        });
        bar?.stop();
        for (const w of summary.warnings) process.stderr.write(`facecls: warning: ${w}\n`);
        const written = [o.output, o.jsonl && o.jsonl !== '-' ? o.jsonl : undefined].filter(Boolean).join(' and ');
        if (summary.error && !stop.requested) {
          throw new UserError(`${summary.error}${written ? `; kept valid with the ${summary.frames} frame(s) before the break: ${written}` : ''}`);
        }
        process.stderr.write(
          `${summary.frames} frames, ${summary.faces} faces, ${(summary.frames / summary.seconds).toFixed(1)} frames/s${written ? ` -> ${written}` : ''}\n`,
        );
      } finally {
        bar?.stop();
        process.off('SIGINT', onSigint);
        await overlay?.dispose();
        await fc.dispose();
      }
    },
  );
}
