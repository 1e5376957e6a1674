import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../../src/data/paths.js';
import { Rng } from '../../src/data/rng.js';
import { NO_AUGMENT } from '../../src/train/augment.js';
import { DEFAULT_TRAIN_OPTIONS, readSessions, resumeTraining, train, type TrainOptions } from '../../src/train/train.js';
import { shipRun } from '../../src/train/ship.js';
import { MODEL_CARD_JSON, MODEL_CARD_MD, readShippedModels, type CardEvaluation, type ModelCard } from '../../src/train/model-card.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { shippedOnnx } from '../../src/io/onnx/model-dir.js';
import { createRuntime } from '../../src/runtime/factory.js';
import type { OnnxRuntime } from '../../src/runtime/onnx.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders, synthPixels } from '../data/fixtures.js';

const quiet = { progress: false, log: () => {} };
const SIZE = 16;

function opts(data: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    task: 'custom',
    data,
    arch: 'tiny-xception',
    inputSize: SIZE,
    epochs: 2,
    batchSize: 16,
    schedule: { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 0.002 },
    augment: { ...NO_AUGMENT, flip: true },
    workers: 0,
    preciseBnBatches: 4,
    ...extra,
  };
}

/** UTKFace-style names (age_gender_race_date) over the synthetic task: women bright on top, men below. */
async function makeUtkFace(root: string, n: number): Promise<string> {
  fs.mkdirSync(root, { recursive: true });
  const rng = new Rng(7);
  for (let i = 0; i < n; i++) {
    const gender = i % 2; // 0 = man, 1 = woman in UTKFace
    const age = [1, 5, 12, 20, 35, 50, 70][i % 7];
    const px = synthPixels(gender === 1 ? 0 : 1, SIZE, rng);
    const name = `${age}_${gender}_${Math.floor(i / 2) % 5}_2017010${String(i).padStart(10, '0')}.jpg.chip.jpg`;
    await sharp(Buffer.from(px), { raw: { width: SIZE, height: SIZE, channels: 1 } })
      .jpeg({ quality: 95 })
      .toFile(path.join(root, name));
  }
  return root;
}

let counter = 0;
const base = tmpDir('facecls-ship-test-');
/** A fresh folder under one temporary root (one exit hook for the whole file). */
const fresh = () => {
  const d = path.join(base, `t${counter++}`);
  fs.mkdirSync(d);
  return d;
};
const readCard = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, MODEL_CARD_JSON), 'utf8')) as ModelCard;

let data: string;
let runDir: string;
let interimRun: string;
let finalCard: ModelCard;
test.before(async () => {
  data = await makeClassFolders(path.join(fresh(), 'synthetic'), 60, SIZE);
  runDir = path.join(fresh(), 'run');
  await train(opts(data), runDir, quiet);
  // A run still in progress: the same files, with more epochs planned than done.
  interimRun = path.join(fresh(), 'interim');
  fs.cpSync(runDir, interimRun, { recursive: true });
  fs.rmSync(path.join(interimRun, 'training.json'));
  const cfg = JSON.parse(fs.readFileSync(path.join(interimRun, 'config.json'), 'utf8'));
  cfg.options.epochs = 5;
  fs.writeFileSync(path.join(interimRun, 'config.json'), JSON.stringify(cfg));
});

test('interim run: best weights, an up-to-date model.onnx, validation figures, test withheld', async () => {
  const out = path.join(fresh(), 'models', 'interim');
  const { card } = await shipRun(interimRun, out);
  assert.deepEqual(fs.readdirSync(out).sort(), [MODEL_CARD_MD, MODEL_CARD_JSON, 'model.json', 'model.onnx', 'weights.bin'].sort());
  assert.deepEqual(fs.readFileSync(path.join(out, 'weights.bin')), fs.readFileSync(path.join(interimRun, 'best', 'weights.bin')));
  assert.ok(shippedOnnx(out), 'model.onnx matches the copied weights');
  const rt = await createRuntime(out, { runtime: 'onnx' });
  assert.equal((rt as OnnxRuntime).origin, 'shipped');
  await rt.dispose();
  assert.equal(card.status, 'interim: training in progress, epoch 2 of 5');
  assert.deepEqual(readCard(out), JSON.parse(JSON.stringify(card)));
  assert.ok(!Array.isArray(card.evaluation.test) && card.evaluation.test.withheld);
  const md = fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8');
  assert.match(md, /Test figures are withheld until the final evaluation/);
  assert.match(md, /Status: interim: training in progress, epoch 2 of 5/);
  assert.match(md, /facecls train --resume/);
  const val = card.evaluation.val[0];
  assert.deepEqual(card.data.counts, { train: 96, val: 12, test: 12 });
  assert.equal(val.n, 12);
  assert.equal(
    val.confusion.flat().reduce((a, b) => a + b, 0),
    12,
  );
  assert.deepEqual(card.data.trainClassCounts, { bottom: 48, top: 48 });
  assert.equal(card.training.epochsRun, 2);
  const log = fs.readFileSync(path.join(interimRun, 'log.csv'), 'utf8').trim().split('\n').slice(1);
  const wall = log.reduce((a, l) => a + Number(l.split(',')[6]), 0);
  assert.ok(Math.abs(card.training.wallSeconds - wall) < 0.11);
  assert.equal(card.architecture.arch, 'tiny-xception');
  assert.ok(card.architecture.params > 0 && card.architecture.macs > 0);
  assert.deepEqual(
    { size: card.input.size, channels: card.input.channels, colorSpace: card.input.colorSpace, range: card.input.range },
    { size: SIZE, channels: 1, colorSpace: 'grey', range: [-1, 1] },
  );
  // The protocol: test once, at the end.
  await assert.rejects(shipRun(interimRun, path.join(fresh(), 'x'), { final: true }), /epoch 2 of 5: the test split is evaluated once/);
});

test('CLI: --final --tta flip evaluates val and test like facecls eval; refuses to overwrite without --force', async () => {
  const out = path.join(fresh(), 'final');
  const r = runCli(['ship', runDir, '-o', out, '--final', '--tta', 'flip', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const card = JSON.parse(r.stdout) as ModelCard & { dir: string };
  finalCard = card;
  assert.equal(card.dir, out);
  assert.equal(card.status, 'final');
  assert.equal(card.evaluation.tta, 'flip');
  const test = card.evaluation.test as CardEvaluation[];
  assert.ok(Array.isArray(test) && test.length === 1);
  assert.equal(test[0].n, 12);
  assert.equal(test[0].splitName, 'test split');
  for (const [split, e] of [
    ['val', card.evaluation.val[0]],
    ['test', test[0]],
  ] as const) {
    const direct = await evaluate({ model: path.join(runDir, 'best'), data, split, tta: 'flip', runtime: 'tfjs' });
    assert.equal(e.accuracy, direct.metrics.accuracy, split);
    assert.deepEqual(e.confusion, direct.metrics.confusion);
    assert.deepEqual(
      e.perClass.map((c) => c.label),
      ['bottom', 'top'],
    );
  }
  assert.ok(card.evaluation.val[0].accuracy >= 0.8, `val accuracy ${card.evaluation.val[0].accuracy}`);
  const md = fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8');
  assert.match(md, /\| true \\ predicted \| bottom \| top \|/);
  assert.match(md, /### test split\n/);
  assert.deepEqual(card.files.weights, ['weights.bin']);
  const before = fs.readFileSync(path.join(out, MODEL_CARD_JSON), 'utf8');
  const again = runCli(['ship', runDir, '-o', out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^facecls: error: output ".*final" exists \(choose another output or pass --force\)/);
  assert.equal(fs.readFileSync(path.join(out, MODEL_CARD_JSON), 'utf8'), before);
  const forced = runCli(['ship', runDir, '-o', out, '--force', '--note', 'first note', '--note', 'second: with a `tick`']);
  assert.equal(forced.code, 0, forced.stderr);
  // A finished run shipped without --final is interim: its test figures are withheld.
  assert.match(forced.stdout, /status: interim: training finished, test figures withheld until facecls ship --final/);
  const interimMd = fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8');
  assert.match(interimMd, /\*\*Status: interim: training finished/);
  assert.doesNotMatch(interimMd, /Status: final/);
  assert.doesNotMatch(interimMd, /will be replaced when training ends/, 'a finished run has no better weights to come');
  assert.match(forced.stdout, /Test figures are withheld/);
  const noted = JSON.parse(fs.readFileSync(path.join(out, MODEL_CARD_JSON), 'utf8')) as ModelCard;
  assert.deepEqual(noted.notes, ['first note', 'second: with a `tick`']);
  assert.match(fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8'), /## Notes\n\n- first note\n- second: with a `tick`\n/);
  assert.equal(card.notes, undefined, 'no notes unless given');
  assert.deepEqual(
    fs.readdirSync(path.dirname(out)).filter((f) => f.includes('.ship-')),
    [],
    'no temporary folders left',
  );
});

test("the reconstructed train command reproduces the run's config.json", () => {
  const args = finalCard.training.command.split(' ');
  assert.equal(args[0], 'facecls');
  // Paths are relative to the project root, where the card's command runs.
  assert.deepEqual(args.slice(-2), ['--out', path.relative(projectRoot(), runDir)]);
  const again = path.join(fresh(), 'again');
  // --max-minutes 0: the new run writes its config.json once the data has loaded, then stops before epoch 1.
  const r = runCli([...args.slice(1, -1), again, '--max-minutes', '0', '--no-progress', '--json'], { cwd: projectRoot() });
  assert.equal(r.code, 0, r.stderr);
  const cfg = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).options;
  assert.deepEqual(cfg(again), cfg(runDir));
});

test('UTKFace-style data: adults and per-group figures, measured gaps in the limitations', async () => {
  const utk = await makeUtkFace(path.join(fresh(), 'utk'), 140);
  const run = path.join(fresh(), 'utk-run');
  await train(opts(utk, { task: 'gender', epochs: 1, valFraction: 0.2, testFraction: 0.2 }), run, quiet);
  const out = path.join(fresh(), 'gender');
  const { card } = await shipRun(run, out, { final: true });
  assert.equal(card.status, 'final');
  assert.deepEqual(card.labels, ['woman', 'man']);
  assert.equal(card.calibration, undefined);
  // --balance: an offset chosen on validation adults, folded into the weights (and the ONNX graph):
  // the card's validation-adults figure is what the calibration predicted.
  const balanced = (await shipRun(run, path.join(fresh(), 'balanced'), { balance: 'accuracy' })).card;
  assert.ok(balanced.calibration);
  assert.equal(balanced.calibration.split, 'UTKFace validation split (adults)');
  assert.ok(balanced.calibration.after.balancedAccuracy >= balanced.calibration.before.balancedAccuracy);
  const adults = balanced.evaluation.val.find((e) => e.adultsOnly)!;
  assert.ok(Math.abs(adults.accuracy - balanced.calibration.after.accuracy) < 1e-9);
  assert.equal(balanced.calibration.criterion, 'accuracy');
  // --balance parity: the recall gap on validation adults can only shrink, and the card says how it was chosen.
  const parOut = path.join(fresh(), 'parity');
  const parity = (await shipRun(run, parOut, { balance: 'parity' })).card.calibration!;
  const gap = (r: number[]) => Math.abs(r[0] - r[1]);
  assert.equal(parity.criterion, 'parity');
  assert.ok(gap(parity.after.recalls) <= gap(parity.before.recalls));
  assert.ok(gap(parity.after.recalls) <= gap(balanced.calibration.after.recalls) + 1e-12);
  assert.match(
    fs.readFileSync(path.join(parOut, MODEL_CARD_MD), 'utf8'),
    /`facecls ship --balance parity`\): logit offset minimising the gap between the two per-class recalls/,
  );
  const test = card.evaluation.test as CardEvaluation[];
  assert.deepEqual(
    test.map((e) => e.adultsOnly),
    [false, true],
  );
  assert.deepEqual(
    card.evaluation.val.map((e) => e.adultsOnly),
    [false, true],
  );
  assert.equal(test[0].splitName, 'UTKFace test split');
  assert.ok(test[1].n < test[0].n);
  const all = test[0];
  assert.deepEqual(
    all.groups.gender!.map((g) => g.value),
    ['woman', 'man'],
  );
  assert.deepEqual(
    all.groups.ageBand!.map((g) => g.value),
    ['0-2', '3-9', '10-17', '18-29', '30-44', '45-59', '60+'],
  );
  assert.equal(
    all.groups.race!.reduce((a, g) => a + g.n, 0),
    all.n,
  );
  const w = all.groups.gender!.find((g) => g.value === 'woman')!;
  const m = all.groups.gender!.find((g) => g.value === 'man')!;
  assert.equal(all.gaps!.menMinusWomen, Math.round((m.accuracy - w.accuracy) * 10000) / 100);
  // The gap is stated as a magnitude and a direction (no "men -1.60 points below women").
  const gapText = `Measured on UTKFace test split, all ages: men ${Math.abs(all.gaps!.menMinusWomen!).toFixed(2)} points ${all.gaps!.menMinusWomen! >= 0 ? 'above' : 'below'} women`;
  assert.ok(
    card.limitations.some((l) => l.startsWith(gapText)),
    `${gapText}\n${card.limitations.join('\n')}`,
  );
  assert.ok(card.limitations.some((l) => /under-18s at/.test(l)));
  const md = fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8');
  assert.match(md, /UTKFace test split, adults \(age >= 18\)/);
  assert.match(md, /\| ethnic group \| accuracy \| correct \| n \|/);
  assert.equal(card.training.command.split(' ').slice(0, 3).join(' '), 'facecls train gender');
});

test('facecls models: shipped models table, --shipped --json list, zoo JSON unchanged; a corrupt card is skipped with a warning', () => {
  const dir = path.join(fresh(), 'models');
  fs.mkdirSync(dir);
  fs.cpSync((finalCard as ModelCard & { dir: string }).dir, path.join(dir, 'final'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'broken'));
  fs.writeFileSync(path.join(dir, 'broken', MODEL_CARD_JSON), '{ not json');
  const rows = readShippedModels(dir);
  assert.deepEqual(
    rows.map((r) => [r.name, r.task, r.arch, r.test, r.status]),
    [['final', 'custom', 'tiny-xception', 'withheld', 'interim: training finished, test figures withheld until facecls ship --final']],
  );
  const j = runCli(['models', '--shipped', '--json', '--models-dir', dir]);
  assert.equal(j.code, 0, j.stderr);
  const listed = JSON.parse(j.stdout);
  assert.equal(listed.modelsDir, dir);
  assert.equal(listed.shipped.length, 1);
  assert.equal(listed.shipped[0].params, finalCard.architecture.params);
  assert.match(j.stderr, /warning: skipping ".*broken.model-card\.json"/);
  const zoo = runCli(['models', '--json', '--models-dir', dir]);
  assert.ok(Array.isArray(JSON.parse(zoo.stdout)));
  const table = runCli(['models', '--models-dir', dir]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /mini-xception/);
  assert.match(table.stdout, /shipped models \(.*\):\nname\s+task\s+arch\s+params\s+val acc\s+test acc\s+val \/ test adults\s+status\s+pipeline/);
  assert.match(table.stdout, /final\s+custom\s+tiny-xception\s+[\d,]+\s+[\d.]+%\s+withheld\s+-\s+interim: training finished/);
});

test('ship: clear errors for bad runs, outputs and moved data', async () => {
  const t = fresh();
  await assert.rejects(shipRun(path.join(t, 'nope'), path.join(t, 'o')), /run directory ".*nope" does not exist/);
  await assert.rejects(shipRun(data, path.join(t, 'o')), /is not a training run directory/);
  await assert.rejects(shipRun(runDir, path.join(runDir, 'shipped')), /inside the run directory/);
  const other = await makeClassFolders(path.join(t, 'other'), 20, SIZE);
  await assert.rejects(shipRun(runDir, path.join(t, 'o'), { data: other }), /no longer splits as the run did .*counts/);
  const r = runCli(['ship', runDir, '-o', path.join(t, 'o'), '--tta', 'rotate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--tta must be none or flip/);
  const noBest = path.join(t, 'nobest');
  fs.cpSync(runDir, noBest, { recursive: true });
  fs.writeFileSync(path.join(noBest, 'log.csv'), 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.1,x,1,1,1,1\n');
  await assert.rejects(shipRun(noBest, path.join(t, 'o')), /log\.csv" line 2 is malformed/);
  assert.ok(!fs.existsSync(path.join(t, 'o')), 'nothing written on failure');
});

test('the card records the sessions that trained a run (new, resumed) with paths relative to the project', async () => {
  const one = path.join(fresh(), 'one');
  fs.cpSync(runDir, one, { recursive: true });
  const single = (await shipRun(one, path.join(fresh(), 'o1'))).card;
  assert.equal(single.training.resumed, false);
  assert.equal(single.training.sessions?.length, 1);
  assert.match(single.training.resumeNote, /Trained in one session/);
  assert.ok(!path.isAbsolute(single.training.runDir) && !path.isAbsolute(single.data.root), 'no absolute paths in the card');
  const dataArg = single.training.command.match(/--data (\S+)/)![1];
  assert.ok(!path.isAbsolute(dataArg), 'the command names the data relative to the project');
  assert.equal(path.resolve(projectRoot(), dataArg), path.resolve(data));

  await resumeTraining(one, { epochs: 3 }, quiet);
  const sessions = readSessions(one);
  assert.deepEqual(
    sessions.map((x) => [x.resumed, x.fromEpoch]),
    [
      [false, 0],
      [true, 2],
    ],
  );
  fs.appendFileSync(path.join(one, 'sessions.jsonl'), '{"started": "cut sho'); // a line cut by a crash is skipped
  const card = (await shipRun(one, path.join(fresh(), 'o2'))).card;
  assert.equal(card.training.resumed, true);
  assert.equal(card.training.sessions?.length, 2);
  assert.match(card.training.resumeNote, /continued with `facecls train --resume .*`.*1 time\(s\): after epoch\(s\) 2/);
});

test('ensemble: several runs shipped as one model averaging their probabilities; --balance scores every member view; tta recorded in the model', async () => {
  const second = path.join(fresh(), 'run2');
  // Same seed (it also seeds the split), different schedule and augmentation: a different model.
  await train(opts(data, { schedule: { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 0.003 }, augment: { ...NO_AUGMENT } }), second, quiet);
  const out = path.join(fresh(), 'ens');
  const r = runCli(['ship', runDir, second, '-o', out, '--final', '--tta', 'flip', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const card = JSON.parse(r.stdout) as ModelCard;
  assert.equal(card.ensemble?.members.length, 2);
  assert.deepEqual(
    card.ensemble!.members.map((m) => m.runDir),
    [runDir, second].map((d) => path.relative(projectRoot(), d)),
  );
  assert.equal(card.training.runDir, card.ensemble!.members[0].runDir);
  assert.equal(card.architecture.arch, 'ensemble of 2: tiny-xception + tiny-xception');
  assert.equal(card.architecture.params, 2 * finalCard.architecture.params);
  for (const split of ['val', 'test'] as const) {
    const direct = await evaluate({ model: [path.join(runDir, 'best'), path.join(second, 'best')], data, split, tta: 'flip', runtime: 'tfjs' });
    const e = split === 'val' ? card.evaluation.val[0] : (card.evaluation.test as CardEvaluation[])[0];
    assert.deepEqual(e.confusion, direct.metrics.confusion, `${split}: the shipped ensemble scores as evaluate() averaging the two runs`);
  }
  // Every runtime applies the recorded TTA; eval defaults to it.
  const rt = await createRuntime(out, { runtime: 'onnx' });
  assert.equal(rt.tta, 'flip');
  assert.equal((rt as OnnxRuntime).origin, 'shipped');
  await rt.dispose();
  assert.equal((await evaluate({ model: out, data, split: 'val' })).tta, 'flip');
  const md = fs.readFileSync(path.join(out, MODEL_CARD_MD), 'utf8');
  assert.match(md, /An ensemble of 2 separately trained models/);
  assert.match(md, /### Member 2: `/);
  assert.equal((md.match(/```sh\nfacecls train custom/g) ?? []).length, 2);
  assert.deepEqual(readShippedModels(path.dirname(out)).find((x) => x.name === 'ens')?.arch, 'ensemble of 2: tiny-xception + tiny-xception');

  await assert.rejects(shipRun([runDir, runDir], path.join(fresh(), 'x')), /the same run is listed twice/);
  const bigger = path.join(fresh(), 'bigger');
  fs.cpSync(second, bigger, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(bigger, 'config.json'), 'utf8'));
  cfg.options.inputSize = 24;
  fs.writeFileSync(path.join(bigger, 'config.json'), JSON.stringify(cfg));
  await assert.rejects(shipRun([runDir, bigger], path.join(fresh(), 'x')), /ensemble members must share the input size: ".*bigger" has 24/);

  // Two gender runs balanced together: the offset is folded into both members and the shipped
  // ensemble's validation-adults figure is what the calibration predicted.
  const utk = await makeUtkFace(path.join(fresh(), 'utk2'), 140);
  const g = [path.join(fresh(), 'g1'), path.join(fresh(), 'g2')];
  for (const [i, d] of g.entries()) await train(opts(utk, { task: 'gender', epochs: 1, valFraction: 0.2, testFraction: 0.2, seed: 5 + i }), d, quiet);
  // Different seeds split differently: ensemble members must share the split.
  await assert.rejects(
    shipRun(g, path.join(fresh(), 'x')),
    /ensemble members must share the split of .*utk2 \(split.json\): ".*g2" has seeded hash split .* with seed 6 \(counts/,
  );
  // --split-seed: another data order and augmentation (seed 6) on the split of seed 5.
  const g2 = path.join(fresh(), 'g2same');
  await train(
    opts(utk, { task: 'gender', epochs: 1, valFraction: 0.2, testFraction: 0.2, seed: 6, splitSeed: 5, augment: { ...NO_AUGMENT, flip: false } }),
    g2,
    quiet,
  );
  assert.deepEqual(
    JSON.parse(fs.readFileSync(path.join(g2, 'split.json'), 'utf8')).ids,
    JSON.parse(fs.readFileSync(path.join(g[0], 'split.json'), 'utf8')).ids,
  );
  const gens = path.join(fresh(), 'gens');
  const balanced = (await shipRun([g[0], g2], gens, { balance: 'accuracy', tta: 'flip' })).card;
  assert.match(balanced.ensemble!.members[1].command, /--seed 6 --split-seed 5 /);
  // The ensemble is evaluated on its members' split (seed 5), not the default one.
  const all = balanced.evaluation.val.find((e) => !e.adultsOnly)!;
  const again = await evaluate({ model: gens, data: utk, split: 'val', tta: 'flip', runtime: 'tfjs' });
  assert.equal(again.metrics.n, all.n);
  assert.ok(Math.abs(again.metrics.accuracy - all.accuracy) < 1e-9, `${again.metrics.accuracy} vs ${all.accuracy}`);
  const adults = balanced.evaluation.val.find((e) => e.adultsOnly)!;
  assert.ok(Math.abs(adults.accuracy - balanced.calibration!.after.accuracy) < 1e-9, `${adults.accuracy} vs ${balanced.calibration!.after.accuracy}`);
});
