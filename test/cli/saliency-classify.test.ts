/**
 * `facecls saliency` tells what `facecls classify` tells (issue 24): for every face of the test photos
 * (UTKFace faces composed onto backgrounds, one photo turned so that the eyes are not level), the
 * saliency command reports the same detector box, the crop classify's crop rule gives (margin, framing,
 * eye levelling) and the same predicted class and probabilities (the shipped models with their flip
 * TTA), for both classification tasks; for age, the same crops and the age estimate classify reports. Skips when the UTKFace faces are absent (FACECLS_DATASETS).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { modelCrops } from '../../src/core/crop.js';
import type { FaceResult } from '../../src/core/types.js';
import { setupBackend } from '../../src/engine/backend.js';
import { loadModel } from '../../src/io/model-store.js';
import { defaultModelDir } from '../../src/pipeline/face-classifier.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { encoder, frame, utkSkip } from '../pipeline/fixtures.js';

const skip = utkSkip();
if (skip) console.log(`# skipping saliency/classify agreement: ${skip}`);

interface SaliencyFace {
  box: number[];
  crop: { box: number[]; angle?: number };
  class: string;
  predicted: string;
  probabilities: Record<string, number>;
}

const round1 = (b: readonly number[]) => b.map((v) => Math.round(v * 10) / 10);

describe('saliency and classify agree on every face', { skip }, () => {
  const dir = tmpDir('facecls-agree-');
  const photos: string[] = [];

  before(async () => {
    await setupBackend();
    for (const [i, [faces, seed]] of [
      [3, 11],
      [2, 12],
    ].entries()) {
      const f = await frame(faces, seed, 90, 170);
      const file = path.join(dir, `photo${i}.png`);
      await encoder(f.image).png().toFile(file);
      photos.push(file);
    }
    // Tilted faces: the crop rule levels their eyes (a turned crop), which saliency must do too.
    const f = await frame(2, 13, 110, 170);
    const tilted = path.join(dir, 'tilted.png');
    await encoder(f.image).rotate(14, { background: '#808080' }).png().toFile(tilted);
    photos.push(tilted);
  });

  for (const task of ['emotion', 'gender'] as const) {
    test(`${task}: same boxes, crops and predicted class`, async () => {
      const { meta, model } = await loadModel(defaultModelDir(task));
      model.dispose();
      let faces = 0;
      let turned = 0;
      for (const photo of photos) {
        const cls = runCli(['classify', '--json', photo]);
        assert.equal(cls.code, 0, cls.stderr);
        const classified = (JSON.parse(cls.stdout.trim()) as { faces: FaceResult[] }).faces;
        const sal = runCli(['saliency', photo, '-o', path.join(dir, `${path.basename(photo)}-${task}.png`), '--task', task, '--json']);
        assert.equal(sal.code, 0, sal.stderr);
        const explained = (JSON.parse(sal.stdout.trim().split('\n').pop()!) as { faces: SaliencyFace[] }).faces;
        assert.equal(explained.length, classified.length, `${photo}: face count`);
        assert.ok(classified.length >= 1, `${photo}: no face found`);
        const crops = modelCrops(classified, meta, { detector: 'blazeface' });
        classified.forEach((c, i) => {
          const s = explained[i];
          const where = `${path.basename(photo)} face ${i + 1}`;
          assert.deepEqual(s.box, round1(c.box), `${where}: detector box`);
          assert.deepEqual(s.crop.box, round1(crops[i].box), `${where}: crop box`);
          assert.equal(s.crop.angle ?? 0, Math.round((crops[i].angle ?? 0) * 1e4) / 1e4, `${where}: crop angle`);
          assert.equal(s.predicted, c[task]!.label, `${where}: top class`);
          assert.equal(s.class, c[task]!.label, `${where}: explained class`);
          for (const [label, p] of Object.entries(c[task]!.scores))
            assert.ok(Math.abs(s.probabilities[label] - p) < 1e-4, `${where}: p(${label}) ${s.probabilities[label]} vs ${p}`);
          faces++;
          if (crops[i].angle) turned++;
        });
      }
      assert.ok(faces >= 5, `only ${faces} faces compared`);
      assert.ok(turned >= 1, 'no face with a turned (eye-levelled) crop');
    });
  }

  test('age: same boxes and crops; the map explains the age estimate classify reports', async () => {
    const { meta, model } = await loadModel(defaultModelDir('age'));
    model.dispose();
    let faces = 0;
    for (const photo of photos) {
      const classified = (JSON.parse(runCli(['classify', '--json', photo]).stdout.trim()) as { faces: FaceResult[] }).faces;
      const sal = runCli(['saliency', photo, '-o', path.join(dir, `${path.basename(photo)}-age.png`), '--task', 'age', '--method', 'gradcam', '--json']);
      assert.equal(sal.code, 0, sal.stderr);
      const explained = (JSON.parse(sal.stdout.trim().split('\n').pop()!) as { faces: Array<SaliencyFace & { age?: FaceResult['age']; explains?: string }> })
        .faces;
      assert.equal(explained.length, classified.length, `${photo}: face count`);
      const crops = modelCrops(classified, meta, { detector: 'blazeface' });
      classified.forEach((c, i) => {
        const s = explained[i];
        const where = `${path.basename(photo)} face ${i + 1}`;
        assert.deepEqual(s.crop.box, round1(crops[i].box), `${where}: crop box`);
        assert.equal(s.explains, 'expected-age', `${where}: the estimate is explained`);
        // (classify shares one batched step with emotion and gender; float sums may differ in the last bits)
        assert.ok(Math.abs(s.age!.years - c.age!.years) <= 0.1 + 1e-9, `${where}: age ${s.age!.years} vs classify ${c.age!.years}`);
        assert.ok(Math.abs(s.age!.range[0] - c.age!.range[0]) <= 1 && Math.abs(s.age!.range[1] - c.age!.range[1]) <= 1, `${where}: range`);
        faces++;
      });
    }
    assert.ok(faces >= 5, `only ${faces} faces compared`);
    // An anchor asked for by name is explained as a class.
    const anchor = runCli(['saliency', photos[0], '-o', path.join(dir, 'anchor.png'), '--task', 'age', '--class', '44', '--json']);
    assert.equal(anchor.code, 0, anchor.stderr);
    const f0 = (JSON.parse(anchor.stdout.trim().split('\n').pop()!) as { faces: Array<SaliencyFace & { explains?: string }> }).faces[0];
    assert.equal(f0.class, '44');
    assert.equal(f0.explains, undefined);
  });
});
