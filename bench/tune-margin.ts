/**
 * Tunes the pipeline's crop margin (src/pipeline/face-classifier.ts DEFAULT_CROP_MARGIN) per
 * detector: UTKFace faces of the validation split (never the test split) are pasted onto generated
 * 640x480 backgrounds, detected, and classified by a gender model with the square crop grown by each
 * candidate margin; prints accuracy per margin and detector, plus the crop from the known truth box.
 *
 *   node dist/bench/tune-margin.js --gender-model <dir> [--faces 400]
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { datasetPath } from '../src/data/paths.js';
import { preprocessBatch, squareBox, type Box } from '../src/data/preprocess.js';
import { loadUtkFace } from '../src/data/utkface.js';
import { createDetector } from '../src/detect/index.js';
import { composeFrame, matchDetections } from '../src/detect/labelled-set.js';
import { createRuntime } from '../src/runtime/factory.js';

export const MARGINS = [-0.05, 0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'gender-model': { type: 'string' }, faces: { type: 'string', default: '400' } } });
  if (!values['gender-model']) throw new Error('--gender-model <dir> is required');
  const rt = await createRuntime(values['gender-model']);
  const { inputSize, labels } = rt.meta;
  const data = loadUtkFace(datasetPath('utkface'));
  const val = data.splits.val.filter((s) => Number(s.meta?.age ?? 0) >= 18).slice(0, Number(values.faces));
  const detectors = [await createDetector('blazeface'), await createDetector('haar')];
  const rows: Record<string, { n: number; missed: number; correct: number[] }> = {};
  for (const name of ['truth box', ...detectors.map((d) => d.name)]) rows[name] = { n: 0, missed: 0, correct: MARGINS.map(() => 0) };
  for (let i = 0; i < val.length; i++) {
    const s = val[i];
    const f = await composeFrame([s.file!], { faces: 1, seed: 31_000 + i, minSide: 90, maxSide: 200 });
    const truth = f.faces[0];
    const boxes: Array<[string, Box | undefined]> = [['truth box', truth]];
    for (const d of detectors) {
      const dets = await d.detect(f.image);
      const m = dets.find((x) => matchDetections([truth], [x]).truePositives === 1);
      boxes.push([d.name, m?.box]);
    }
    for (const [name, box] of boxes) {
      const row = rows[name];
      if (!box) {
        row.missed++;
        continue;
      }
      row.n++;
      const batch = preprocessBatch(
        f.image,
        MARGINS.map((mg) => squareBox(box, mg)),
        { inputSize, channels: 1 },
      );
      const probs = await rt.run(batch, MARGINS.length);
      MARGINS.forEach((_, k) => {
        const p = probs.subarray(k * labels.length, (k + 1) * labels.length);
        const pred = p[1] > p[0] ? 1 : 0;
        if (pred === s.label) row.correct[k]++;
      });
    }
  }
  console.log(
    `gender model ${path.resolve(values['gender-model'])}; ${val.length} UTKFace validation-split adults, one per composed 640x480 frame (faces 90-200 px)`,
  );
  console.log(['crop from'.padEnd(12), 'n'.padStart(4), 'missed'.padStart(6), ...MARGINS.map((m) => `m=${m}`.padStart(7))].join(' '));
  for (const [name, r] of Object.entries(rows)) {
    console.log(
      [name.padEnd(12), String(r.n).padStart(4), String(r.missed).padStart(6), ...r.correct.map((c) => (r.n ? (c / r.n).toFixed(3) : '-').padStart(7))].join(
        ' ',
      ),
    );
  }
  for (const d of detectors) d.dispose();
  await rt.dispose();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
