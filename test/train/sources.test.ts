import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/data/rng.js';
import { NO_AUGMENT } from '../../src/train/augment.js';
import { combineScores, dataSources, loadSources, weightedEpochOrder } from '../../src/train/sources.js';
import { DEFAULT_TRAIN_OPTIONS, train, type TrainOptions } from '../../src/train/train.js';
import { shipRun } from '../../src/train/ship.js';
import { MODEL_CARD_MD } from '../../src/train/model-card.js';
import { trainOptionsFrom } from '../../src/cli/commands/train.js';
import { makeClassFolders } from '../data/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

/** A one-epoch tiny-xception run on 16x16 synthetic folders, on the calling thread. */
function tinyRun(data: string): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    task: 'custom',
    data,
    arch: 'tiny-xception',
    inputSize: 16,
    epochs: 1,
    batchSize: 16,
    augment: { ...NO_AUGMENT },
    valFraction: 0.25,
    testFraction: 0.25,
    workers: 0,
    preciseBnBatches: 0,
  };
}

test('weighted epoch order: whole passes per integer weight, a seeded subset for the fraction, shuffled together', () => {
  const ranges: Array<[number, number]> = [
    [0, 10],
    [10, 14],
  ];
  const order = weightedEpochOrder(ranges, [1, 2.5], new Rng(3));
  const count = (lo: number, hi: number) => order.filter((i) => i >= lo && i < hi).length;
  assert.equal(count(0, 10), 10);
  assert.equal(count(10, 14), 10); // 2 passes (8) + half of 4
  for (let i = 0; i < 10; i++) assert.equal(order.filter((x) => x === i).length, 1);
  assert.deepEqual(weightedEpochOrder(ranges, [1, 2.5], new Rng(3)), order);
  assert.notDeepEqual(weightedEpochOrder(ranges, [1, 2.5], new Rng(4)), order);
  assert.deepEqual(
    weightedEpochOrder(ranges, [0, 1], new Rng(1)).sort((a, b) => a - b),
    [10, 11, 12, 13],
  );
  assert.deepEqual(
    combineScores([
      { name: 'a', loss: 1, acc: 0.5, n: 100 },
      { name: 'b', loss: 3, acc: 0.9, n: 10 },
    ]),
    { loss: 2, acc: 0.7, n: 110 },
  );
});

test('sources: one label space, clear errors; the CLI turns repeated --data and --data-weights into sources', async () => {
  const a = await makeClassFolders(path.join(tmpDir(), 'a'), 10, 8, 1);
  const b = await makeClassFolders(path.join(tmpDir(), 'b'), 10, 8, 2, ['top', 'middle']);
  await assert.rejects(
    loadSources(
      [
        { path: a, weight: 1 },
        { path: b, weight: 1 },
      ],
      'custom',
      { seed: 1, val: 0.2, test: 0 },
    ),
    /must share one label space/,
  );
  await assert.rejects(loadSources([{ path: a, weight: 0 }], 'custom', { seed: 1, val: 0.2, test: 0 }), /weight 0: nothing to train on/);
  assert.deepEqual(dataSources({ data: a }), [{ path: a, weight: 1 }]);
  const base = {
    arch: 'tiny-xception',
    input: '16',
    channels: '1',
    batchSize: '16',
    lr: '0.001',
    minLr: '0',
    schedule: 'cosine',
    warmup: '0',
    lrFactor: '0.1',
    plateauPatience: '2',
    stepEpochs: '2',
    earlyStopping: '0',
    labelSmoothing: '0',
    classWeights: 'none',
    augment: 'robust',
    mixup: '0',
    seed: '1',
    valFraction: '0.2',
    testFraction: '0.1',
    cropMargin: '0',
    cacheMb: '10',
    maxBadFraction: '0.05',
    preciseBn: '0',
    distill: '0.5',
    distillTemperature: '2',
    json: false,
    progress: false,
  };
  const o = trainOptionsFrom('custom', { ...base, data: [a, b], dataWeights: '1,2.5' });
  assert.equal(o.data, path.resolve(a));
  assert.deepEqual(o.sources, [
    { path: path.resolve(a), weight: 1 },
    { path: path.resolve(b), weight: 2.5 },
  ]);
  assert.ok(o.augment.aspect! > 0 && o.augment.blur! > 0, 'robust preset');
  assert.throws(() => trainOptionsFrom('custom', { ...base, data: [a, b], dataWeights: '1' }), /lists 1 weights for 2 datasets/);
  assert.throws(() => trainOptionsFrom('custom', { ...base, data: [a, b], format: 'folders' }), /--format applies to a single --data/);
  assert.equal(trainOptionsFrom('custom', { ...base, data: [a] }).sources, undefined);
});

test('training on two datasets: validation per dataset and combined in log.csv, split.json per dataset; ship evaluates each', async () => {
  const a = await makeClassFolders(path.join(tmpDir(), 'first'), 24, 16, 1);
  const b = await makeClassFolders(path.join(tmpDir(), 'second'), 12, 16, 5);
  const o: TrainOptions = {
    ...tinyRun(a),
    sources: [
      { path: a, weight: 1 },
      { path: b, weight: 2 },
    ],
    epochs: 2,
    schedule: { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 0.002 },
    augment: { ...NO_AUGMENT, flip: true },
    preciseBnBatches: 2,
  };
  const run = path.join(tmpDir(), 'run');
  const lines: string[] = [];
  const s = await train(o, run, { progress: false, log: (l) => lines.push(l) });
  assert.equal(s.epochsDone, 2);
  const rec = s.history[1];
  assert.deepEqual(
    rec.valSources!.map((v) => [v.name, v.n]),
    [
      ['first', 12],
      ['second', 6],
    ],
  );
  assert.ok(Math.abs(rec.valLoss - (rec.valSources![0].loss + rec.valSources![1].loss) / 2) < 1e-12, 'combined = mean over datasets');
  const csv = fs.readFileSync(path.join(run, 'log.csv'), 'utf8').split('\n');
  assert.equal(csv[0], 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds,val_loss_first,val_accuracy_first,val_loss_second,val_accuracy_second');
  assert.equal(csv[2].split(',').length, 11);
  const split = JSON.parse(fs.readFileSync(path.join(run, 'split.json'), 'utf8'));
  assert.deepEqual(
    split.sources.map((x: { name: string; weight: number; counts: object }) => [x.name, x.weight, x.counts]),
    [
      ['first', 1, { train: 24, val: 12, test: 12 }],
      ['second', 2, { train: 12, val: 6, test: 6 }],
    ],
  );
  assert.ok(
    lines.some((l) => /first .* \/ .*, second .* \/ /.test(l)),
    lines.join('\n'),
  );
  const shipped = path.join(tmpDir(), 'shipped');
  const { card } = await shipRun(run, shipped, { final: true });
  assert.deepEqual(
    card.evaluation.val.map((e) => [e.splitName, e.n]),
    [
      ['first validation split', 12],
      ['second validation split', 6],
    ],
  );
  assert.deepEqual(
    (card.evaluation.test as Array<{ splitName: string; n: number }>).map((e) => [e.splitName, e.n]),
    [
      ['first test split', 12],
      ['second test split', 6],
    ],
  );
  assert.deepEqual(
    card.data.sources!.map((d) => [d.name, d.weight]),
    [
      ['first', 1],
      ['second', 2],
    ],
  );
  assert.match(card.training.command, /--data \S+first --data \S+second --data-weights 1,2/);
  assert.match(card.data.selection, /mean of the validation losses/);
  const md = fs.readFileSync(path.join(shipped, MODEL_CARD_MD), 'utf8');
  assert.match(md, /- Datasets \(trained on at once; validation per dataset/);
  assert.match(md, /first validation split/);
});

test('an ensemble may join a run on one dataset to a run on several, listed first; not the other way round', async () => {
  const a = await makeClassFolders(path.join(tmpDir(), 'ea'), 20, 16, 1);
  const b = await makeClassFolders(path.join(tmpDir(), 'eb'), 10, 16, 5);
  const base = tinyRun(a);
  const quiet = { progress: false, log: () => {} };
  const both = path.join(tmpDir(), 'both');
  const one = path.join(tmpDir(), 'one');
  const other = path.join(tmpDir(), 'other');
  await train(
    {
      ...base,
      sources: [
        { path: a, weight: 1 },
        { path: b, weight: 1 },
      ],
    },
    both,
    quiet,
  );
  await train(base, one, quiet);
  await train({ ...base, seed: 9 }, other, quiet);
  const { card } = await shipRun([both, one], path.join(tmpDir(), 'ens'));
  assert.deepEqual(
    card.evaluation.val.map((e) => e.splitName),
    ['ea validation split', 'eb validation split'],
  );
  await assert.rejects(shipRun([one, both], path.join(tmpDir(), 'x')), /trained on the first member's datasets: ".*both" used .*eb/);
  // Another split of the shared dataset (seed 9) would let a member see the other's validation images.
  await assert.rejects(shipRun([both, other], path.join(tmpDir(), 'y')), /must share the split of .*ea/);
});
