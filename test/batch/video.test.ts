/**
 * Videos in a batch: split into time segments that different workers process at once, merged in
 * order. Against `facecls video --jsonl` on the same clip: the same frames, times, boxes, smoothed
 * scores and track ids (tracks stitched across segment edges). mergeSegments on its own: stitching,
 * new ids for new faces, a broken segment ending the video with its error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mergeSegments } from '../../src/batch/results.js';
import type { SegmentPayload } from '../../src/batch/store.js';
import { readCounters } from '../../src/batch/store.js';
import type { FrameResult } from '../../src/pipeline/types.js';
import { runCli } from '../helpers/cli.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { tmpDir } from '../helpers/tmp.js';
import { encoder, frame, randomModels, utkSkip } from '../pipeline/fixtures.js';
import { batchCli, killWorkers, startWorkerProc, until } from './helpers.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;

function seg(segment: number, segments: number, frames: FrameResult[], error?: string): SegmentPayload {
  return { kind: 'segment', file: 'v.mp4', segment, segments, fps: 10, width: 100, height: 100, frames, ...(error ? { error } : {}) };
}
const face = (track: number, x: number) => ({ track, box: [x, 10, 20, 20] as [number, number, number, number], score: 0.9 });

test('mergeSegments: tracks continue across a segment edge by overlap, new faces get new ids, a broken segment ends the video', () => {
  const a = seg(0, 3, [
    { frame: 0, time: 0, faces: [face(1, 10), face(2, 60)] },
    { frame: 1, time: 0.1, faces: [face(1, 11), face(2, 61)] },
  ]);
  // Segment 2 restarted its tracker: its ids 1 and 2 are the previous 2 (moved) and a new face.
  const b = seg(1, 3, [
    { frame: 2, time: 0.2, faces: [face(1, 62), face(2, 30)] },
    { frame: 3, time: 0.3, faces: [face(1, 63), face(2, 31)] },
  ]);
  const c = seg(2, 3, [{ frame: 4, time: 0.4, faces: [face(1, 32)] }], 'video "v.mp4": stream broken after 1 frame(s): corrupt');
  const v = mergeSegments([a, b, c]);
  assert.deepEqual(
    v.frames.map((f) => f.frame),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    v.frames.map((f) => f.faces.map((x) => x.track)),
    [[1, 2], [1, 2], [2, 3], [2, 3], [3]],
  );
  assert.equal(v.error, 'video "v.mp4": stream broken after 1 frame(s): corrupt (segment 3 of 3, from 4 frame(s) in)');
  assert.deepEqual([v.file, v.width, v.height, v.fps], ['v.mp4', 100, 100, 10]);
});

describe('videos in a batch', { skip: redisSkip() || utkSkip() || (!hasFfmpeg && 'ffmpeg not installed') }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    killWorkers();
    await redis?.stop();
  });

  test('a video split into segments over two workers equals facecls video --jsonl (frames, times, smoothing, stitched tracks); images beside it', async () => {
    const dir = tmpDir('facecls-batch-video-');
    const f = await frame(2, 21, 90, 150);
    for (let k = 0; k < 12; k++) {
      const d = new Uint8Array(f.image.data.length);
      for (let y = 0; y < 480; y++) d.set(f.image.data.subarray(y * 640 * 3, (y * 640 + 640 - 3 * k) * 3), (y * 640 + 3 * k) * 3);
      await encoder({ ...f.image, data: d })
        .png()
        .toFile(path.join(dir, `f${k}.png`));
    }
    const clip = path.join(dir, 'clip.mp4');
    const mk = spawnSync(
      'ffmpeg',
      ['-v', 'error', '-framerate', '5', '-i', path.join(dir, 'f%d.png'), '-c:v', 'libx264', '-g', '3', '-pix_fmt', 'yuv420p', clip],
      { encoding: 'utf8' },
    );
    assert.equal(mk.status, 0, mk.stderr);
    const photo = path.join(dir, 'f0.png');
    const m = await randomModels();
    const models = ['--emotion-model', m.emotion, '--gender-model', m.gender];
    const whole = runCli(['video', clip, '--jsonl', '-', '--smooth', '3', '--no-progress', ...models]);
    assert.equal(whole.code, 0, whole.stderr);
    const expectedFrames = whole.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FrameResult);
    assert.equal(expectedFrames.length, 12);
    assert.ok(
      expectedFrames.every((fr) => fr.faces.length === 2),
      'both faces in every frame (the tracks cross every segment edge)',
    );
    const still = JSON.parse(runCli(['classify', '--json', ...models, photo]).stdout) as Record<string, unknown>;

    // 0.6 s at 5 fps: segments of 3 frames, so 4 segments; the photo before and after the video.
    const sub = batchCli(redis.url, ['batch', 'submit', photo, clip, photo, '--segment-seconds', '0.6', '--smooth', '3', '--json', ...models]);
    assert.equal(sub.code, 0, sub.stderr);
    const s = JSON.parse(sub.stdout) as { id: string; jobs: number; images: number; videos: number };
    assert.deepEqual([s.jobs, s.images, s.videos], [6, 2, 1]);
    const w1 = startWorkerProc(redis.url);
    const w2 = startWorkerProc(redis.url);
    await Promise.all([w1.ready, w2.ready]);
    await until(async () => (await readCounters(redis.client, s.id)).jobs === 6, 120_000, 'the batch');
    w1.proc.kill('SIGTERM');
    w2.proc.kill('SIGTERM');
    const st = JSON.parse(batchCli(redis.url, ['batch', 'status', s.id, '--json']).stdout) as Record<string, unknown>;
    assert.deepEqual([st.done, st.failed, st.frames, st.finished], [3, 0, 12, true]);

    const res = batchCli(redis.url, ['batch', 'results', s.id]);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 3, 'one line per input');
    assert.deepEqual(lines[0], still);
    assert.deepEqual(lines[2], still);
    assert.deepEqual({ ...lines[1], frames: undefined }, { file: clip, width: 640, height: 480, fps: 5, frames: undefined });
    assert.deepEqual(lines[1].frames, expectedFrames);

    const csv = batchCli(redis.url, ['batch', 'results', s.id, '--csv']).stdout.trim().split('\n');
    // The age columns come after the video columns: every earlier column keeps its position.
    assert.match(csv[0], /,error,frame,time,track,age_years,age_lo,age_hi$/);
    const videoRows = csv.filter((r) => r.startsWith(clip));
    assert.equal(
      videoRows.length,
      expectedFrames.reduce((n, fr) => n + fr.faces.length, 0),
    );
    assert.match(videoRows[videoRows.length - 1], /,11,2\.2,\d+,\d+(\.\d)?,\d+,\d+$/);
    await Promise.all([w1.exited, w2.exited]);
    assert.ok(fs.existsSync(clip));
  });
});
