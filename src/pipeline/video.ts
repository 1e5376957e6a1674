/**
 * Video and camera streams through the FaceClassifier: frames in from ffmpeg, results out as JSON
 * Lines (one complete line per frame, flushed as it goes) and/or an annotated video. On a broken
 * stream everything written so far stays valid and a StreamError says where it stopped.
 */
import * as fs from 'node:fs';
import type { RawImage } from '../data/preprocess.js';
import { annotateRgb } from './annotate.js';
import type { FaceClassifier } from './face-classifier.js';
import { readFrames, StreamError, VideoWriter } from './ffmpeg.js';
import { FaceTracker, type TrackerOptions } from './tracker.js';
import type { FrameResult, TrackedFace } from './types.js';

export interface StreamOptions extends TrackerOptions {
  /** ffmpeg input arguments, e.g. ['-i', 'in.mp4'] or ['-f', 'v4l2', '-i', '/dev/video0']. */
  inputArgs: string[];
  label: string;
  width: number;
  height: number;
  fps: number;
  /** Annotated video output. */
  output?: string;
  /**
   * Painted on each output frame before the annotation is drawn over it (e.g. saliency maps,
   * SaliencyOverlay.apply); returns the frame to annotate. Does not change the JSON lines.
   */
  underlay?: (image: RawImage, faces: TrackedFace[]) => RawImage;
  /** Copy audio from this file into the output. */
  audioFrom?: string;
  /** Where JSON lines go: a file path, or a writable stream (stdout). */
  jsonl?: string | NodeJS.WritableStream;
  /**
   * Start at this frame (a seek to startFrame / fps before the input): frames keep their numbers and
   * times in the whole stream. The batch workers process a long video as segments this way.
   */
  startFrame?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  onFrame?: (r: FrameResult) => void;
  /** Set to true (e.g. on SIGINT) to stop cleanly after the current frame. */
  stop?: { requested: boolean };
}

export interface StreamSummary {
  frames: number;
  faces: number;
  seconds: number;
  /** Set when the input broke; output up to `frames` is complete and valid. */
  error?: string;
  /** Non-fatal problems (e.g. audio not copied). */
  warnings: string[];
}

export async function processStream(fc: FaceClassifier, opts: StreamOptions): Promise<StreamSummary> {
  const tracker = new FaceTracker(opts);
  const writer = opts.output ? new VideoWriter(opts.output, opts.width, opts.height, opts.fps, opts.audioFrom) : undefined;
  const ownsJsonl = typeof opts.jsonl === 'string';
  const jsonl: NodeJS.WritableStream | undefined = typeof opts.jsonl === 'string' ? fs.createWriteStream(opts.jsonl) : opts.jsonl;
  const started = performance.now();
  let frames = 0;
  let faces = 0;
  let error: string | undefined;
  const warnings: string[] = [];
  try {
    const start = opts.startFrame ?? 0;
    const inputArgs = start > 0 ? ['-ss', (start / opts.fps).toFixed(6), ...opts.inputArgs] : opts.inputArgs;
    for await (const frame of readFrames(inputArgs, opts.width, opts.height, opts.fps, opts.label, start)) {
      const found = await fc.classify(frame.image);
      const tracked = tracker.update(found);
      const result: FrameResult = { frame: frame.index, time: frame.time, faces: tracked };
      if (jsonl && !jsonl.write(JSON.stringify(result) + '\n')) await new Promise<void>((r) => jsonl.once('drain', () => r()));
      if (writer) await writer.write(await annotateRgb(opts.underlay ? opts.underlay(frame.image, tracked) : frame.image, tracked));
      frames++;
      faces += tracked.length;
      opts.onFrame?.(result);
      if ((opts.maxFrames !== undefined && frames >= opts.maxFrames) || opts.stop?.requested) break;
    }
  } catch (err) {
    if (!(err instanceof StreamError)) {
      await finish();
      throw err;
    }
    error = err.message;
  }
  await finish();
  return { frames, faces, seconds: (performance.now() - started) / 1000, error, warnings };

  async function finish(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    if (writer) waits.push(writer.close().then((w) => w && warnings.push(w)));
    if (jsonl && ownsJsonl) waits.push(new Promise((r) => (jsonl as fs.WriteStream).end(r)));
    await Promise.all(waits);
  }
}
