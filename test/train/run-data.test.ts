import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SampleStore } from '../../src/data/store.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/options.js';
import { checkBad, limitSamples, loadRunData, orderForEpoch, resolveClassWeights, skippedInputs } from '../../src/train/run-data.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders } from '../data/fixtures.js';

const quiet = () => {};

function opts(data: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return { ...DEFAULT_TRAIN_OPTIONS, task: 'custom', data, arch: 'tiny-xception', inputSize: 12, ...extra };
}

test('limitSamples: a seeded subset in the original order; no limit or a large one keeps everything', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const a = limitSamples(items, 10, 7);
  assert.equal(a.length, 10);
  assert.deepEqual(
    a,
    [...a].sort((x, y) => x - y),
  );
  assert.deepEqual(limitSamples(items, 10, 7), a, 'same seed, same subset');
  assert.notDeepEqual(limitSamples(items, 10, 8), a);
  assert.equal(limitSamples(items, undefined, 7), items);
  assert.equal(limitSamples(items, 50, 7), items);
});

test('resolveClassWeights: none, balanced, or one weight per class', () => {
  const o = opts('/d');
  assert.equal(resolveClassWeights(o, [10, 30]), undefined);
  assert.deepEqual(resolveClassWeights({ ...o, classWeights: 'balanced' }, [10, 30]), [2, 2 / 3]);
  assert.deepEqual(resolveClassWeights({ ...o, classWeights: [1, 3] }, [10, 30]), [1, 3]);
  assert.throws(
    () => resolveClassWeights({ ...o, classWeights: [1, 3, 4] }, [10, 30]),
    (e: Error) => e instanceof UserError && e.reason === 'class-weights-count' && e.message === '3 class weights given for 2 classes',
  );
});

test('loadRunData: stores, split.json and (only once the data loaded) config.json; a resumed run must split the same', async () => {
  const data = await makeClassFolders(path.join(tmpDir(), 'classes'), 30, 12);
  const runDir = tmpDir();
  const lines: string[] = [];
  const d = await loadRunData(opts(data), runDir, false, 'wasm', false, (l) => lines.push(l));
  assert.equal(d.multi, false);
  assert.equal(d.numClasses, 2);
  assert.equal(d.trainStore.length + d.valStores[0].length + d.ds.splits.test.length, 60);
  assert.equal(d.classWeights, undefined);
  assert.deepEqual(d.sourceNames.length, 1);
  assert.match(lines[0], /^data: folders .*classes: train \d+, val \d+ \(test \d+, not used\)$/);
  assert.match(lines[1], /^cache 0 MB for \d+ samples, 0 streamed; backend wasm$/);
  const split = JSON.parse(fs.readFileSync(path.join(runDir, 'split.json'), 'utf8'));
  assert.equal(split.counts.train, d.trainStore.length);
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).options.data, data);
  assert.deepEqual(skippedInputs(d), []);
  const order = orderForEpoch(d, 5, 1);
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    Array.from({ length: d.trainStore.length }, (_, i) => i),
  );
  assert.deepEqual(orderForEpoch(d, 5, 1), order);
  assert.notDeepEqual(orderForEpoch(d, 5, 2), order);
  // The data changed under a run in progress: resuming is refused.
  fs.rmSync(path.join(data, 'top', 'img0000.png'));
  await assert.rejects(loadRunData(opts(data), runDir, true, 'wasm', false, quiet), /no longer matches the run's split.json/);
  // A dataset that does not exist leaves no config.json.
  const typo = tmpDir();
  await assert.rejects(loadRunData(opts(path.join(data, 'nope')), typo, false, 'wasm', false, quiet), /does not exist/);
  assert.ok(!fs.existsSync(path.join(typo, 'config.json')));
});

test('checkBad: more unreadable images than the allowed fraction is an error with examples', async () => {
  const root = await makeClassFolders(path.join(tmpDir(), 'bad'), 5, 12);
  fs.writeFileSync(path.join(root, 'top', 'img0001.png'), 'not an image');
  const files = ['top', 'bottom'].flatMap((c) => fs.readdirSync(path.join(root, c)).map((f) => path.join(root, c, f)));
  const store = new SampleStore(
    files.map((f, i) => ({ id: f, file: f, label: i % 2 })),
    { inputSize: 12, channels: 1 },
  );
  await store.warm();
  checkBad([store], 0.1);
  assert.throws(
    () => checkBad([store], 0.05),
    (e: Error) =>
      e instanceof UserError && e.reason === 'too-much-bad-data' && /^1 of 10 images are unreadable \(more than 5.0%\): .*img0001.png/.test(e.message),
  );
});
