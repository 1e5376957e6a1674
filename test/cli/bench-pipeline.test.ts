import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { randomModels, utkSkip } from '../pipeline/fixtures.js';

test('facecls bench pipeline --json: speed rows per stage and detection rows (tiny run, no peers)', { skip: utkSkip() }, async () => {
  const m = await randomModels();
  const r = runCli(['bench', 'pipeline', '--frames', '2', '--recall-frames', '4', '--no-peers', '--json', '--emotion-model', m.emotion, '--gender-model', m.gender]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    speed: Array<{ system: string; faces: number; frames: number; medianMs: number; decodeMs: number; detectMs: number; classifyMs: number }>;
    detection: Array<{ detector: string; truth: number; recall: number; precision: number }>;
    targets: { fps30: { measured: number }; faceApi3x: { met: boolean | null } };
  };
  assert.deepEqual(out.speed.map((s) => `${s.system}/${s.faces}`), ['facecls/1', 'facecls --tiles always/1', 'facecls --tiles off/1', 'facecls/3', 'facecls --tiles always/3', 'facecls --tiles off/3']);
  for (const s of out.speed) {
    assert.equal(s.frames, 2);
    assert.ok(s.medianMs > 0 && s.decodeMs > 0 && s.detectMs > 0 && s.classifyMs > 0);
  }
  assert.equal(out.detection.length, 4);
  assert.equal(out.detection[0].truth, 1 + 2 + 3 + 4);
  assert.ok(out.detection[0].recall > 0.5);
  assert.equal(out.targets.faceApi3x.met, null, 'peers not run');
  const bad = runCli(['bench', 'pipeline', '--frames', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--frames must be/);
});
