import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDataset, detectFormat } from '../../src/data/load.js';
import { loadRafdb } from '../../src/data/rafdb.js';
import { loadFolders } from '../../src/data/folders.js';
import { isFer2013Folders } from '../../src/data/fer2013.js';
import { datasetsDir } from '../../src/data/paths.js';
import { pngOf } from './fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

/** RAF-DB's release layout: EmoLabel/list_patition_label.txt + Image/aligned/<name>_aligned.jpg. */
async function makeRafRelease(root: string, nTrain: number, nTest: number, extraLines: string[] = []): Promise<string> {
  const aligned = path.join(root, 'Image', 'aligned');
  fs.mkdirSync(aligned, { recursive: true });
  fs.mkdirSync(path.join(root, 'EmoLabel'), { recursive: true });
  const png = await pngOf(new Uint8Array(100).fill(120), 10);
  const lines: string[] = [];
  for (let i = 1; i <= nTrain; i++) {
    const name = `train_${String(i).padStart(5, '0')}`;
    lines.push(`${name}.jpg ${((i - 1) % 7) + 1}`);
    fs.writeFileSync(path.join(aligned, `${name}_aligned.jpg`), png);
  }
  for (let i = 1; i <= nTest; i++) {
    const name = `test_${String(i).padStart(4, '0')}`;
    lines.push(`${name}.jpg ${((i - 1) % 7) + 1}`);
    fs.writeFileSync(path.join(aligned, `${name}_aligned.jpg`), png);
  }
  fs.writeFileSync(path.join(root, 'EmoLabel', 'list_patition_label.txt'), [...lines, ...extraLines].join('\n') + '\n');
  return root;
}

test('RAF-DB release layout: label codes mapped to the FER names, official test kept, seeded stratified validation carved from train', async () => {
  const root = await makeRafRelease(path.join(tmpDir(), 'raf'), 70, 14, ['garbage line', 'train_99999.jpg 9', 'other_1.jpg 1']);
  assert.equal(detectFormat(root), 'rafdb');
  const ds = await loadDataset(root, { task: 'emotion', split: { seed: 3, val: 0.2, test: 0.1 } });
  assert.equal(ds.format, 'rafdb');
  assert.deepEqual(ds.split.counts, { train: 56, val: 14, test: 14 });
  // Code 1 = surprise, 4 = happiness, 6 = anger, 7 = neutral.
  const byFile = new Map([...ds.splits.train, ...ds.splits.val, ...ds.splits.test].map((s) => [path.basename(s.file!), ds.labels[s.label]]));
  assert.equal(byFile.get('train_00001_aligned.jpg'), 'surprise');
  assert.equal(byFile.get('train_00004_aligned.jpg'), 'happy');
  assert.equal(byFile.get('train_00006_aligned.jpg'), 'angry');
  assert.equal(byFile.get('test_0007_aligned.jpg'), 'neutral');
  // Stratified: every class has 2 of its 10 training images in validation.
  for (let c = 0; c < 7; c++) assert.equal(ds.splits.val.filter((s) => s.label === c).length, 2);
  assert.equal(ds.skipped.length, 3);
  assert.match(ds.skipped.map((s) => s.reason).join('\n'), /expected "<name> <label 1\.\.7>"/);
  // Deterministic in the seed, and the test split never depends on it.
  const again = loadRafdb(root, { seed: 3, val: 0.2, test: 0 });
  assert.deepEqual(again.split.ids, ds.split.ids);
  const other = loadRafdb(root, { seed: 4, val: 0.2, test: 0 });
  assert.notDeepEqual(other.split.ids!.val, ds.split.ids!.val);
  assert.deepEqual(other.split.ids!.test, ds.split.ids!.test);
  assert.throws(() => loadRafdb(tmpDir()), /not a RAF-DB release/);
});

test('class folders with only train/: validation carved per class; FER-2013 detection needs its file-name prefixes', async () => {
  const root = path.join(tmpDir(), 'raf-folders');
  const png = await pngOf(new Uint8Array(64), 8);
  for (const c of ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']) {
    fs.mkdirSync(path.join(root, 'train', c), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(root, 'train', c, `train_${c}_${i}_aligned.jpg`), png);
  }
  assert.equal(isFer2013Folders(root), false);
  assert.equal(detectFormat(root), 'folders');
  const ds = loadFolders(root, { split: { seed: 1, val: 0.1, test: 0.1 } });
  assert.deepEqual(ds.split.counts, { train: 63, val: 7, test: 0 });
  assert.match(ds.split.method, /validation carved from train/);
  const fer = path.join(tmpDir(), 'fer');
  for (const c of ['angry', 'disgust', 'fear', 'happy', 'sad']) {
    fs.mkdirSync(path.join(fer, 'train', c), { recursive: true });
    fs.writeFileSync(path.join(fer, 'train', c, 'Training_1.jpg'), png);
  }
  assert.equal(isFer2013Folders(fer), true);
});

const raf = path.join(datasetsDir(), 'rafdb');
test('the shared RAF-DB training split loads as documented', { skip: fs.existsSync(raf) ? false : `needs ${raf} (the shared datasets)` }, async () => {
  const ds = await loadDataset(raf, { task: 'emotion' });
  const total = ds.split.counts.train + ds.split.counts.val;
  assert.equal(total, 12271);
  assert.equal(ds.split.counts.test, 0);
  assert.ok(Math.abs(ds.split.counts.val - 1227) <= 7, JSON.stringify(ds.split.counts));
});
