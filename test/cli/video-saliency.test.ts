import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Box } from '../../src/data/preprocess.js';
import { detectorMargin, detectorCropBox } from '../../src/pipeline/face-classifier.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { encoder, frame, randomModels, utkSkip } from '../pipeline/fixtures.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const W = 640;
const H = 480;

/** Decoded RGB frames of a video. */
function decode(file: string): Buffer[] {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, String(r.stderr));
  const size = W * H * 3;
  assert.equal(r.stdout.length % size, 0);
  return Array.from({ length: r.stdout.length / size }, (_, i) => r.stdout.subarray(i * size, (i + 1) * size));
}

/**
 * How two frames differ inside (or outside) the given boxes: mean absolute difference over RGB values
 * and the fraction of pixels where some channel moved by more than 12 levels (beyond codec noise).
 */
function difference(a: Buffer, b: Buffer, boxes: Box[], inside: boolean): { mean: number; changed: number } {
  // Outside: keep 24 px away from the boxes (the map's bilinear edge, the codec's blocks).
  const pad = inside ? 0 : 24;
  let sum = 0;
  let changed = 0;
  let n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inBox = boxes.some(([bx, by, bw, bh]) => x >= bx - pad && x < bx + bw + pad && y >= by - pad && y < by + bh + pad);
      if (inBox !== inside) continue;
      const i = (y * W + x) * 3;
      const d = [0, 1, 2].map((c) => Math.abs(a[i + c] - b[i + c]));
      sum += d[0] + d[1] + d[2];
      if (Math.max(...d) > 12) changed++;
      n++;
    }
  }
  return { mean: sum / (3 * n), changed: changed / n };
}

test(
  'video --saliency: the same frames and JSON lines, saliency blended into each face region',
  { skip: utkSkip() || (!hasFfmpeg && 'ffmpeg not installed') },
  async () => {
    const dir = tmpDir();
    const f = await frame(2, 21, 90, 150);
    await encoder(f.image).png().toFile(path.join(dir, 'f.png'));
    const clip = path.join(dir, 'clip.mp4');
    const mk = spawnSync(
      'ffmpeg',
      ['-v', 'error', '-loop', '1', '-framerate', '5', '-i', path.join(dir, 'f.png'), '-frames:v', '4', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip],
      { encoding: 'utf8' },
    );
    assert.equal(mk.status, 0, mk.stderr);
    const m = await randomModels();
    const common = ['--emotion-model', m.emotion, '--gender-model', m.gender, '--no-progress'];
    const run = (name: string, extra: string[]) => {
      const out = path.join(dir, `${name}.mp4`);
      const jsonl = path.join(dir, `${name}.jsonl`);
      const r = runCli(['video', clip, '-o', out, '--jsonl', jsonl, ...common, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return { frames: decode(out), lines: fs.readFileSync(jsonl, 'utf8') };
    };
    const plain = run('plain', []);
    const guided = run('guided', ['--saliency']);
    const gender = run('gender', ['--saliency', 'gradcam', '--saliency-task', 'gender']);
    // The age model (models/age, card margin 0 like the random models' chip framing): maps of the age estimate.
    const age = run('age', ['--saliency', 'gradcam', '--saliency-task', 'age']);

    assert.equal(plain.frames.length, 4);
    const results = plain.lines
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { faces: Array<{ box: Box; age?: { years: number; range: number[] } }> });
    assert.equal(results.length, 4);
    assert.equal(results[0].faces.length, 2, 'both faces found');
    assert.ok(
      results.every((r) => r.faces.every((x) => x.age && x.age.range[0] <= x.age.years && x.age.years <= x.age.range[1])),
      'every face of every frame has its age',
    );
    // The maps cover the classifier's crop boxes (random models carry no card margin: chip framing).
    const boxes = results[0].faces.map((x) => detectorCropBox(x.box, 'blazeface', detectorMargin('blazeface')));
    for (const [name, r] of Object.entries({ guided, gender, age })) {
      assert.equal(r.lines, plain.lines, `${name}: JSON lines unchanged`);
      assert.equal(r.frames.length, 4, `${name}: every frame written`);
      for (let i = 0; i < 4; i++) {
        const face = difference(r.frames[i], plain.frames[i], boxes, true);
        const rest = difference(r.frames[i], plain.frames[i], boxes, false);
        // Guided maps of random networks are sparse (a few % of the crop lit), Grad-CAM maps broad.
        const why = `${name} frame ${i}: face regions ${face.mean.toFixed(2)} mean, ${(face.changed * 100).toFixed(2)}% changed; the rest ${rest.mean.toFixed(2)}, ${(rest.changed * 100).toFixed(3)}%`;
        assert.ok(face.changed > 0.005 && face.changed > 20 * rest.changed && face.mean > 3 * rest.mean, why);
      }
    }
    assert.notDeepEqual(guided.frames[0], gender.frames[0], 'method and task change the maps');

    // Option errors: one line, before any work.
    for (const [args, msg] of [
      [['--saliency', 'sobel'], /unknown saliency method "sobel"/],
      [['--saliency', '--saliency-task', 'nose'], /unknown --saliency-task "nose"/],
      [['--saliency-task', 'gender'], /--saliency-task needs --saliency/],
    ] as const) {
      const r = runCli(['video', clip, '-o', path.join(dir, 'x.mp4'), ...common, ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^facecls: error: .*${msg.source}`));
    }
    const noVideo = runCli(['video', clip, '--jsonl', '-', '--saliency', ...common]);
    assert.match(noVideo.stderr, /^facecls: error: --saliency draws on the output video: give -o <video>/);
    const noModel = runCli(['video', clip, '-o', path.join(dir, 'x.mp4'), '--saliency', '--saliency-task', 'gender', '--no-gender', ...common]);
    assert.match(
      noModel.stderr,
      /^facecls: error: saliency of the gender task needs the gender model, which is not loaded \(choose another --saliency-task, or drop the --no-<task>/,
    );
    assert.ok(!fs.existsSync(path.join(dir, 'x.mp4')), 'no output written on option errors');
  },
);
