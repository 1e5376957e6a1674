import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { randomModels, utkSkip } from '../pipeline/fixtures.js';

test('facecls bench pipeline --json: speed rows per stage and detection rows (tiny run, no peers)', { skip: utkSkip() }, async () => {
  const m = await randomModels();
  const r = runCli([
    'bench',
    'pipeline',
    '--frames',
    '2',
    '--recall-frames',
    '4',
    '--wider-images',
    '3',
    '--no-peers',
    '--json',
    '--emotion-model',
    m.emotion,
    '--gender-model',
    m.gender,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    speed: Array<{ system: string; faces: number; frames: number; medianMs: number; decodeMs: number; detectMs: number; classifyMs: number }>;
    detection: Array<{ detector: string; truth: number; recall: number; precision: number }>;
    realPhotos?: { rows: Array<{ detector: string; images: number; ap: Record<string, number>; msPerImage: number }>; note?: string };
    targets: { fps40: { measured: number }; faceApi3x: { met: boolean | null } };
  };
  assert.deepEqual(
    out.speed.map((s) => `${s.system}/${s.faces}`),
    ['facecls/1', 'facecls --tiles always/1', 'facecls --tiles off/1', 'facecls/3', 'facecls --tiles always/3', 'facecls --tiles off/3'],
  );
  for (const s of out.speed) {
    assert.equal(s.frames, 2);
    assert.ok(s.medianMs > 0 && s.decodeMs > 0 && s.detectMs > 0 && s.classifyMs > 0);
  }
  assert.equal(out.detection.length, 4);
  assert.equal(out.detection[0].truth, 1 + 2 + 3 + 4);
  assert.ok(out.detection[0].recall > 0.5);
  assert.equal(out.targets.faceApi3x.met, null, 'peers not run');
  // Real photos: every tiles option on 3 widerface-dev500 photos, or a note saying the set is missing.
  assert.ok(out.realPhotos);
  if (!out.realPhotos.note) {
    assert.deepEqual(
      out.realPhotos.rows.map((x) => x.detector),
      ['facecls blazeface --tiles auto (default)', 'facecls blazeface --tiles always', 'facecls blazeface --tiles dense', 'facecls blazeface --tiles off'],
    );
    for (const x of out.realPhotos.rows) {
      assert.equal(x.images, 3);
      assert.deepEqual(Object.keys(x.ap), ['easy', 'medium', 'hard']);
      assert.ok(x.ap.easy >= 0 && x.ap.easy <= 1 && x.msPerImage > 0);
    }
  }
  const bad = runCli(['bench', 'pipeline', '--frames', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--frames must be/);
});
