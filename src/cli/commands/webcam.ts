/**
 * `facecls webcam`: a Linux camera (v4l2) through ffmpeg, one JSON line per frame on stdout (or
 * --jsonl file), optionally an annotated recording (-o). Ctrl-C stops cleanly.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { FaceClassifier } from '../../pipeline/face-classifier.js';
import { processStream } from '../../pipeline/video.js';
import { parseIntOption } from '../options.js';
import { addPipelineOptions, classifierOptions } from '../pipeline-options.js';
import { addStreamOptions, type StreamCliOptions } from './video.js';

export function registerWebcam(program: Command): void {
  const cmd = program
    .command('webcam')
    .description('classify faces live from a camera (Linux v4l2 via ffmpeg), writing JSON lines')
    .option('--device <path>', 'v4l2 camera device', '/dev/video0')
    .option('--size <WxH>', 'capture size', '640x480')
    .option('--fps <n>', 'capture frame rate', '30')
    .option('-o, --output <file>', 'also record an annotated video');
  addStreamOptions(addPipelineOptions(cmd)).action(async (o: StreamCliOptions & { device: string; size: string; fps: string; output?: string }, c: Command) => {
    const m = /^(\d+)x(\d+)$/.exec(o.size);
    if (!m) throw new UserError(`--size must look like 640x480, got "${o.size}"`);
    const width = parseIntOption(m[1], '--size width', 16, 8192);
    const height = parseIntOption(m[2], '--size height', 16, 8192);
    const fps = parseIntOption(o.fps, '--fps', 1, 240);
    if (process.platform !== 'linux') throw new UserError('webcam capture needs Linux (v4l2)');
    if (!fs.existsSync(o.device)) {
      const found = fs.existsSync('/dev') ? fs.readdirSync('/dev').filter((d) => /^video\d+$/.test(d)) : [];
      throw new UserError(
        `no camera at ${o.device}${found.length ? ` (found: ${found.map((d) => '/dev/' + d).join(', ')}; use --device)` : ': no v4l2 video devices on this machine'}`,
      );
    }
    const fc = await FaceClassifier.load(classifierOptions(o, c.optsWithGlobals().backend));
    const stop = { requested: false };
    const onSigint = () => (stop.requested = true);
    process.once('SIGINT', onSigint);
    try {
      const summary = await processStream(fc, {
        inputArgs: ['-f', 'v4l2', '-framerate', String(fps), '-video_size', `${width}x${height}`, '-i', o.device],
        label: `camera ${o.device}`,
        width,
        height,
        fps,
        output: o.output,
        jsonl: o.jsonl === undefined || o.jsonl === '-' ? process.stdout : o.jsonl,
        window: parseIntOption(o.smooth, '--smooth', 1, 1000),
        maxFrames: o.maxFrames === undefined ? undefined : parseIntOption(o.maxFrames, '--max-frames', 1),
        stop,
      });
      if (summary.error && !stop.requested) throw new UserError(summary.error);
      process.stderr.write(`${summary.frames} frames, ${(summary.frames / summary.seconds).toFixed(1)} frames/s\n`);
    } finally {
      process.off('SIGINT', onSigint);
      await fc.dispose();
    }
  });
}
