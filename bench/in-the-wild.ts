/**
 * Validation that predicts accuracy on faces from other sources (the held-out in-the-wild, posed and web
 * sets the project does not have), printed as one table per task. Validation splits only: FER-2013
 * PublicTest, the RAF-DB validation split carved from its training split, UTKFace validation adults.
 *
 *   node dist/bench/in-the-wild.js [--emotion dir,dir,...] [--gender dir,...] [--age dir,...] [--limit N] [--json]
 *
 * Emotion and gender print accuracy; age prints the mean absolute error in years (lower is better).
 *
 * Columns:
 *   as cut      each image as the dataset cuts it (what `classify --crops` sees on such a set)
 *   re-cut      every image cut again, seeded (looser or tighter by up to 0.75-1.45x, aspect up to 1.3,
 *               centre shifted up to 8%): web crops and other datasets frame faces differently
 *   tilted      re-cut and tilted up to 25 degrees, the face then found by the detector and framed by the
 *               pipeline's crop rule, without and with eye alignment (photos: faces are not upright)
 * A model trained without RAF-DB scored on RAF-DB validation is the cross-dataset check.
 */
import { evaluate } from '../src/eval/evaluate.js';
import { datasetPath, projectRoot } from '../src/data/paths.js';
import { createDetector } from '../src/detect/index.js';
import { setupBackend } from '../src/engine/backend.js';
import * as path from 'node:path';
import { arg } from './args.js';

interface Check {
  name: string;
  data: string;
  adults?: boolean;
  recut?: boolean;
  rotation?: number;
  framing?: 'whole' | 'detect';
  align?: boolean;
}

const EMOTION_CHECKS: Check[] = [
  { name: 'FER-2013 PublicTest', data: 'fer2013' },
  { name: 'RAF-DB val, as cut', data: 'rafdb' },
  { name: 'RAF-DB val, re-cut', data: 'rafdb', recut: true },
  { name: 'RAF-DB val, tilted, detected', data: 'rafdb', recut: true, rotation: 25, framing: 'detect' },
  { name: 'RAF-DB val, tilted, detected + aligned', data: 'rafdb', recut: true, rotation: 25, framing: 'detect', align: true },
];

const GENDER_CHECKS: Check[] = [
  { name: 'UTKFace val adults, as cut', data: 'utkface', adults: true },
  { name: 'UTKFace val adults, re-cut', data: 'utkface', adults: true, recut: true },
  { name: 'UTKFace val adults, tilted, detected', data: 'utkface', adults: true, recut: true, rotation: 25, framing: 'detect' },
  { name: 'UTKFace val adults, tilted, detected + aligned', data: 'utkface', adults: true, recut: true, rotation: 25, framing: 'detect', align: true },
];

/** Age: the gender checks' framings on the same UTKFace validation adults (wrinkles and skin survive re-cuts less well). */
const AGE_CHECKS: Check[] = GENDER_CHECKS;

type Row = { model: string; task: string; check: string; score: number; n: number; located?: number };

/** A row's score as printed: accuracy in percent, or age MAE in years. */
const shown = (r: Row) => (r.task === 'age' ? `MAE ${r.score.toFixed(2)} y` : `${(r.score * 100).toFixed(2)}%`);

async function main(): Promise<void> {
  const models = (v: string | undefined, def: string) =>
    (v ?? def)
      .split(',')
      .filter(Boolean)
      .map((m) => path.resolve(m));
  const emotion = models(arg('--emotion'), path.join(projectRoot(), 'models', 'emotion'));
  const gender = models(arg('--gender'), path.join(projectRoot(), 'models', 'gender'));
  const age = models(arg('--age'), path.join(projectRoot(), 'models', 'age'));
  const limit = arg('--limit') ? Number(arg('--limit')) : undefined;
  await setupBackend();
  const detector = await createDetector('blazeface');
  const rows: Row[] = [];
  try {
    for (const [task, dirs, checks] of [
      ['emotion', emotion, EMOTION_CHECKS],
      ['gender', gender, GENDER_CHECKS],
      ['age', age, AGE_CHECKS],
    ] as const) {
      for (const dir of dirs) {
        for (const c of checks) {
          const r = await evaluate({
            model: dir,
            data: datasetPath(c.data),
            split: 'val',
            adults: c.adults,
            expectTask: task,
            ...(limit ? { limit } : {}),
            framing: c.framing ?? 'whole',
            detector,
            align: c.align,
            ...(c.recut ? { recutSeed: 1, recutRotation: c.rotation ?? 0 } : {}),
          });
          const row: Row = {
            model: path.relative(projectRoot(), dir),
            task,
            check: c.name,
            score: task === 'age' ? r.age!.mae : r.metrics.accuracy,
            n: task === 'age' ? r.age!.n : r.metrics.n,
            ...(r.framing?.located !== undefined ? { located: r.framing.located } : {}),
          };
          rows.push(row);
          if (!process.argv.includes('--json')) console.error(`${row.model} | ${row.check}: ${shown(row)} (n ${row.n})`);
        }
      }
    }
  } finally {
    detector.dispose();
  }
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  console.log('| model | check | accuracy (age: MAE) | n | face found |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.model} | ${r.check} | ${shown(r)} | ${r.n} | ${r.located ?? ''} |`);
}

await main();
