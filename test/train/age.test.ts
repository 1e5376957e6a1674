/**
 * End to end for the age task on a tiny synthetic UTKFace (ages encoded in brightness): `facecls train
 * age` (val MAE in log.csv, best/ selected by it, the age codec in the model), `facecls eval age`
 * (report with MAE and age.png), `facecls ship --final` (range in the model's metadata, age figures
 * in the card) and `facecls models`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';
import { ageLabels } from '../../src/data/age.js';
import { loadModel } from '../../src/io/model-store.js';
import { setupBackend } from '../../src/engine/backend.js';
import { MODEL_CARD_JSON, MODEL_CARD_MD, readShippedModels, type CardEvaluation, type ModelCard } from '../../src/train/model-card.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const SIZE = 16;
const root = tmpDir('facecls-age-e2e-');
test.before(async () => {
  await setupBackend();
});

/** UTKFace names; the face's brightness grows with age (plus noise), so age is learnable from pixels. */
async function makeAgeFaces(dir: string, n: number): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Rng(11);
  for (let i = 0; i < n; i++) {
    const age = 1 + ((i * 37) % 80);
    const px = new Uint8Array(SIZE * SIZE).map(() => Math.max(0, Math.min(255, Math.round(30 + age * 2.6 + rng.uniform(-15, 15)))));
    const name = `${age}_${i % 2}_${i % 5}_2017010${String(i).padStart(10, '0')}.jpg.chip.jpg`;
    await sharp(Buffer.from(px), { raw: { width: SIZE, height: SIZE, channels: 1 } })
      .jpeg({ quality: 95 })
      .toFile(path.join(dir, name));
  }
  return dir;
}

const trainArgs = (data: string, out: string, extra: string[] = []) => [
  'train',
  'age',
  '--data',
  data,
  '--arch',
  'tiny-xception',
  '--input',
  String(SIZE),
  '--epochs',
  '3',
  '--batch-size',
  '16',
  '--lr',
  '0.003',
  '--augment',
  'none',
  '--val-fraction',
  '0.2',
  '--test-fraction',
  '0.2',
  '--workers',
  '0',
  '--precise-bn',
  '4',
  '--out',
  out,
  '--no-progress',
  '--json',
  ...extra,
];

test('train age -> eval age -> ship --final -> models: MAE everywhere, range in the model, same split as gender', async () => {
  const data = await makeAgeFaces(path.join(root, 'utk'), 150);
  const run = path.join(root, 'run');
  const t = runCli(trainArgs(data, run));
  assert.equal(t.code, 0, t.stderr);
  const summary = JSON.parse(t.stdout) as { bestEpoch: number; history: Array<{ epoch: number; valMae: number }> };
  const log = fs.readFileSync(path.join(run, 'log.csv'), 'utf8').trim().split('\n');
  assert.ok(log[0].endsWith(',val_mae'));
  const maes = log.slice(1).map((l) => Number(l.split(',').at(-1)));
  assert.equal(maes.length, 3);
  assert.ok(maes.every(Number.isFinite));
  // best/ is the epoch of the lowest validation MAE.
  assert.equal(summary.bestEpoch, maes.indexOf(Math.min(...maes)) + 1);
  assert.ok(fs.existsSync(path.join(run, 'mae.png')));
  const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).options;
  assert.equal(cfg.selectBy, 'val_mae');
  assert.deepEqual(cfg.age, { centres: [1, 7, 16, 24, 32, 44, 60, 90], sigma: 2 });
  const best = await loadModel(path.join(run, 'best'));
  assert.equal(best.meta.task, 'age');
  assert.deepEqual(best.meta.labels, ageLabels());
  assert.deepEqual(best.meta.age, cfg.age);
  assert.equal((best.meta.training as { valMae: number }).valMae, Math.min(...maes));
  best.model.dispose();
  // The split is the gender split of the same data and seed.
  const g = path.join(root, 'gender');
  const gt = runCli([...trainArgs(data, g).map((a) => (a === 'age' ? 'gender' : a)), '--max-minutes', '0']);
  assert.equal(gt.code, 0, gt.stderr);
  const ids = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'split.json'), 'utf8')).ids;
  assert.deepEqual(ids(run), ids(g));

  const evalDir = path.join(root, 'eval');
  const e = runCli(['eval', 'age', '--model', path.join(run, 'best'), '--data', data, '--split', 'val', '--out', evalDir]);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /MAE [\d.]+ years, RMSE [\d.]+, bias [+-][\d.]+ \(predicted minus true\)/);
  assert.match(e.stdout, /decade\s+MAE\s+bias\s+n/);
  assert.match(e.stdout, /ethnic group\s+MAE\s+bias\s+n/);
  assert.equal(fs.readFileSync(path.join(evalDir, 'age.png')).subarray(1, 4).toString(), 'PNG');
  const report = JSON.parse(fs.readFileSync(path.join(evalDir, 'report.json'), 'utf8'));
  assert.equal(report.age.n, 30);
  assert.equal(
    report.age.perGender.reduce((a: number, r: { n: number }) => a + r.n, 0),
    30,
  );
  const wrong = runCli(['eval', 'gender', '--model', path.join(run, 'best'), '--data', data, '--split', 'val']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /is a age model, not gender|age model/);

  const out = path.join(root, 'models', 'age');
  const s = runCli(['ship', run, '-o', out, '--final', '--tta', 'flip']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /UTKFace test split \(adults\): MAE [\d.]+ years on \d+ images/);
  const card = JSON.parse(fs.readFileSync(path.join(out, MODEL_CARD_JSON), 'utf8')) as ModelCard;
  assert.equal(card.task, 'age');
  const test = card.evaluation.test as CardEvaluation[];
  assert.deepEqual(
    test.map((x) => x.adultsOnly),
    [false, true],
  );
  for (const ev of [...card.evaluation.val, ...test]) {
    assert.ok(ev.age && Number.isFinite(ev.age.mae) && ev.age.perDecade.length > 0, ev.splitName);
    assert.ok(ev.age.range && ev.age.range.coverage >= 0 && ev.age.range.coverage <= 1);
  }
  assert.ok(Number.isFinite(card.training.bestValMae!));
  assert.match(card.data.selection, /validation mean absolute error/);
  assert.ok(
    card.limitations.some((l) => /^Measured on UTKFace test split, adults \(age >= 18\): MAE [\d.]+; /.test(l)),
    card.limitations.join('\n'),
  );
  const shipped = await loadModel(out);
  const range = (shipped.meta.age as { range: { level: number; bands: unknown[] } }).range;
  assert.equal(range.level, 0.9);
  assert.equal(range.bands.length, 6);
  shipped.model.dispose();
  for (const f of ['age-val.png', 'age-val-adults.png', 'age-test.png', 'age-test-adults.png'])
    assert.equal(fs.readFileSync(path.join(out, f)).subarray(1, 4).toString(), 'PNG', f);
  const md = fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8');
  assert.match(md, /### UTKFace test split, adults \(age >= 18\)\n\nMAE \*\*[\d.]+ years\*\*/);
  assert.match(md, /\| decade \| MAE \(years\) \| bias \| n \|/);
  assert.match(md, /in-sample: the range was fitted on this split/);
  const rows = readShippedModels(path.dirname(out));
  assert.equal(rows[0].task, 'age');
  assert.equal(rows[0].testMae, test[0].age!.mae);
  const table = runCli(['models', '--shipped', '--models-dir', path.dirname(out)]);
  assert.match(table.stdout, /age\s+age\s+tiny-xception\s+[\d,]+\s+MAE [\d.]+ y\s+MAE [\d.]+ y\s+MAE [\d.]+ y \/ MAE [\d.]+ y\s+final/);
});

test('train age refuses what only classifiers have; val_mae is for age runs only', () => {
  const data = path.join(root, 'none');
  for (const [extra, msg] of [
    [['--mixup', '0.2'], /--mixup, --label-smoothing, --class-weights and --teacher do not apply/],
    [['--label-smoothing', '0.1'], /do not apply/],
  ] as const) {
    const r = runCli(trainArgs(data, path.join(root, 'x'), [...extra]));
    assert.equal(r.code, 1);
    assert.match(r.stderr, msg);
  }
  const r = runCli([...trainArgs(data, path.join(root, 'y')).map((a) => (a === 'age' ? 'gender' : a)), '--select-by', 'val_mae']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--select-by val_mae applies to age runs only/);
});
