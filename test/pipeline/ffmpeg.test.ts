/**
 * Frames from ffmpeg carry the right time, also for variable-frame-rate input: a clip whose first
 * second is red at 10 fps and whose second second is blue at 30 fps must come out red before 1 s
 * and blue after it, at the probed average rate (18.75 fps), for the whole 2 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { probeVideo, readFrames } from '../../src/pipeline/ffmpeg.js';
import { tmpDir } from '../helpers/tmp.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test('variable frame rate video: frame times match the pictures', { skip: !hasFfmpeg && 'ffmpeg not installed' }, async () => {
  const dir = tmpDir();
  // 30 fps source, red for 1 s then blue; every third frame dropped in the first second: 10 fps, then 30
  // (r_frame_rate 30, average 18.75: ffmpeg's own choice of output rate would be 30)
  const clip = path.join(dir, 'vfr.mp4');
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'color=c=red:size=32x24:rate=30:duration=2',
    '-vf',
    "drawbox=x=0:y=0:w=iw:h=ih:color=blue:t=fill:enable='gte(t,1)',select='gte(t,1)+not(mod(n,3))'",
    '-fps_mode',
    'vfr',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    clip,
  ]);
  const info = probeVideo(clip);
  assert.ok(info.fps > 10 && info.fps < 30, `average rate between the two parts, got ${info.fps}`);
  const frames = [];
  for await (const f of readFrames(['-i', clip], info.width, info.height, info.fps, clip)) {
    const d = f.image.data;
    const centre = ((info.height >> 1) * info.width + (info.width >> 1)) * 3;
    frames.push({ index: f.index, time: f.time, red: d[centre] > 128 && d[centre + 2] < 128, blue: d[centre + 2] > 128 && d[centre] < 128 });
  }
  const duration = info.duration ?? 2;
  assert.ok(Math.abs(frames.length - duration * info.fps) <= 2, `${frames.length} frames for ${duration} s at ${info.fps.toFixed(2)} fps`);
  for (const f of frames) {
    assert.ok(Math.abs(f.time - f.index / info.fps) < 1e-3);
    // one frame period of slack at the switch
    if (f.time < 1 - 1 / info.fps) assert.ok(f.red, `frame ${f.index} at ${f.time} s should be red`);
    if (f.time > 1 + 1 / info.fps) assert.ok(f.blue, `frame ${f.index} at ${f.time} s should be blue`);
  }
  assert.ok(frames[frames.length - 1].time > 1.8, 'the frames span the whole clip');
});
