/**
 * Video through Debian's ffmpeg: raw RGB frames read from one ffmpeg over a pipe, annotated frames
 * written to another (audio copied from the input). Mp4/mov outputs are fragmented, so a file stays
 * playable up to the last frame written even when the input breaks or the process is interrupted.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.js';
import { settings } from '../settings.js';
import type { RawImage } from '../data/preprocess.js';

export const FFMPEG = settings.ffmpeg();
export const FFPROBE = settings.ffprobe();

export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** Seconds, when known. */
  duration?: number;
  /** Frame count estimate, when known. */
  frames?: number;
  hasAudio: boolean;
}

function parseRate(r: string | undefined): number {
  if (!r) return NaN;
  const [a, b] = r.split('/').map(Number);
  return b ? a / b : a;
}

/** Size (after rotation), frame rate, duration and audio presence of a video file. */
export function probeVideo(file: string): VideoInfo {
  if (!/^https?:\/\//i.test(file) && !fs.existsSync(file)) throw new UserError(`video "${file}" does not exist`);
  const r = spawnSync(FFPROBE, ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error) throw new UserError(`cannot run ${FFPROBE} (install ffmpeg): ${r.error.message}`);
  if (r.status !== 0) throw new UserError(`cannot read video "${file}": ${lastLine(r.stderr).replace(`${file}: `, '') || 'ffprobe failed'}`);
  const json = JSON.parse(r.stdout) as {
    streams?: Array<Record<string, unknown> & { codec_type?: string; side_data_list?: Array<{ rotation?: number }>; tags?: { rotate?: string } }>;
    format?: { duration?: string };
  };
  const v = json.streams?.find((s) => s.codec_type === 'video');
  if (!v || !(Number(v.width) > 0)) throw new UserError(`"${file}" has no video stream`);
  const rot = Math.abs(Number(v.side_data_list?.find((s) => s.rotation !== undefined)?.rotation ?? v.tags?.rotate ?? 0)) % 180;
  let width = Number(v.width);
  let height = Number(v.height);
  if (rot === 90) [width, height] = [height, width];
  let fps = parseRate(v.avg_frame_rate as string);
  if (!(fps > 0)) fps = parseRate(v.r_frame_rate as string);
  if (!(fps > 0)) fps = 25;
  const duration = Number(json.format?.duration ?? v.duration);
  const frames = Number(v.nb_frames) > 0 ? Number(v.nb_frames) : duration > 0 ? Math.round(duration * fps) : undefined;
  return { width, height, fps, duration: duration > 0 ? duration : undefined, frames, hasAudio: !!json.streams?.some((s) => s.codec_type === 'audio') };
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
}

export interface Frame {
  index: number;
  time: number;
  image: RawImage;
}

/** The reader stopped because the input is broken (not at a normal end of stream). */
export class StreamError extends UserError {}

/**
 * Decoded RGB frames of size width x height from ffmpeg input arguments (e.g. ['-i', file]), at a
 * constant `fps`: frame i has time i / fps (seconds from the start of the stream). When the input
 * arguments seek (`-ss` to firstIndex / fps), `firstIndex` numbers the first frame read.
 * Throws StreamError after the last good frame when ffmpeg reports a decoding failure.
 */
export async function* readFrames(inputArgs: string[], width: number, height: number, fps: number, label: string, firstIndex = 0): AsyncGenerator<Frame> {
  // Constant frame rate at `fps`: ffmpeg duplicates or drops frames of a variable-rate input so that
  // frame i is the picture shown at i / fps (otherwise it picks its own rate, e.g. the stream's
  // r_frame_rate, and times computed from the probed average rate drift).
  const args = [
    '-v',
    'error',
    '-nostdin',
    ...inputArgs,
    '-map',
    '0:v:0',
    '-vf',
    `scale=${width}:${height}`,
    '-fps_mode',
    'cfr',
    '-r',
    String(fps),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
  // Own process group: Ctrl-C reaches facecls, which stops after the current frame and closes
  // the outputs properly, instead of killing ffmpeg mid-stream.
  const proc = spawn(FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    proc.on('error', (error) => resolve({ code: null, error }));
    proc.on('close', (code) => resolve({ code }));
  });
  const frameBytes = width * height * 3;
  let pending: Buffer[] = [];
  let have = 0;
  let index = 0;
  try {
    for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
      pending.push(chunk);
      have += chunk.length;
      while (have >= frameBytes) {
        const all = pending.length === 1 ? pending[0] : Buffer.concat(pending);
        const data = new Uint8Array(all.subarray(0, frameBytes));
        const rest = all.subarray(frameBytes);
        pending = rest.length ? [rest] : [];
        have = rest.length;
        const at = firstIndex + index;
        yield { index: at, time: Math.round((at / fps) * 1000) / 1000, image: { data, width, height, channels: 3 } };
        index++;
      }
    }
    const { code, error } = await exited;
    if (error) throw new UserError(`cannot run ${FFMPEG} (install ffmpeg): ${error.message}`);
    const msg = stderr.trim().split('\n').filter(Boolean);
    if (code !== 0 || (index === 0 && msg.length)) {
      throw new StreamError(`${label}: stream broken after ${index} frame(s): ${msg.slice(-1)[0] ?? `ffmpeg exited with code ${code}`}`);
    }
    if (msg.some((l) => /invalid|corrupt|error|truncat/i.test(l))) {
      throw new StreamError(`${label}: stream broken after ${index} frame(s): ${msg.slice(-1)[0]}`);
    }
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
}

function encodeArgs(file: string): string[] {
  const ext = path.extname(file).toLowerCase();
  const args =
    ext === '.webm' ? ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-b:v', '0', '-crf', '32'] : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20'];
  args.push('-pix_fmt', 'yuv420p');
  if (ext === '.mp4' || ext === '.mov' || ext === '.m4v') args.push('-movflags', '+frag_keyframe+empty_moov+default_base_moof');
  return args;
}

function run(args: string[]): { ok: boolean; message: string } {
  const r = spawnSync(FFMPEG, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error) return { ok: false, message: r.error.message };
  return { ok: r.status === 0, message: lastLine(r.stderr) };
}

/**
 * An ffmpeg encoder fed with raw RGB frames; `close()` finalises the file. With `audioFrom`, the
 * video is encoded to a temporary file beside the output and the input's audio is muxed in at the
 * end (cut to the frames written), so a broken or silent audio track never costs the video: if the
 * mux fails the output is the video alone and `close()` reports why.
 */
export class VideoWriter {
  private readonly proc: ChildProcessWithoutNullStreams;
  private stderr = '';
  private readonly exited: Promise<{ code: number | null; error?: Error }>;
  private failed: Error | undefined;
  private readonly target: string;

  constructor(
    readonly file: string,
    width: number,
    height: number,
    fps: number,
    private readonly audioFrom?: string,
  ) {
    const ext = path.extname(file) || '.mp4';
    this.target = audioFrom ? path.join(path.dirname(file), `.${path.basename(file, ext)}.${process.pid}.video${ext}`) : file;
    const args = ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', String(fps), '-i', 'pipe:0'];
    args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', ...encodeArgs(file), this.target);
    this.proc = spawn(FFMPEG, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true }) as unknown as ChildProcessWithoutNullStreams;
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    this.proc.stdin.on('error', (err) => {
      this.failed ??= err;
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (error) => resolve({ code: null, error }));
      this.proc.on('close', (code) => resolve({ code }));
    });
  }

  async write(rgb: Buffer): Promise<void> {
    if (this.failed || this.proc.exitCode !== null)
      throw new UserError(`cannot write video "${this.file}": ${lastLine(this.stderr) || this.failed?.message || 'encoder stopped'}`);
    if (!this.proc.stdin.write(rgb)) await new Promise<void>((resolve) => this.proc.stdin.once('drain', resolve));
  }

  /** Finish the file. Returns a warning when the audio could not be added (the video is kept). */
  async close(): Promise<string | undefined> {
    this.proc.stdin.end();
    const { code, error } = await this.exited;
    if (error) throw new UserError(`cannot run ${FFMPEG} (install ffmpeg): ${error.message}`);
    if (code !== 0) throw new UserError(`cannot write video "${this.file}": ${lastLine(this.stderr) || `ffmpeg exited with code ${code}`}`);
    if (!this.audioFrom) return undefined;
    const ext = path.extname(this.file) || '.mp4';
    const muxed = path.join(path.dirname(this.file), `.${path.basename(this.file, ext)}.${process.pid}.mux${ext}`);
    const mux = run([
      '-v',
      'error',
      '-y',
      '-i',
      this.target,
      '-i',
      this.audioFrom,
      '-map',
      '0:v:0',
      '-map',
      '1:a:0?',
      '-c:v',
      'copy',
      '-c:a',
      ext === '.webm' ? 'libopus' : 'aac',
      '-shortest',
      ...(ext === '.mp4' || ext === '.mov' || ext === '.m4v' ? ['-movflags', '+faststart'] : []),
      muxed,
    ]);
    if (mux.ok) {
      fs.renameSync(muxed, this.file);
      fs.rmSync(this.target, { force: true });
      return undefined;
    }
    fs.rmSync(muxed, { force: true });
    fs.renameSync(this.target, this.file);
    return `audio not copied into "${this.file}" (${mux.message || 'ffmpeg failed'}); the video has no sound`;
  }
}
