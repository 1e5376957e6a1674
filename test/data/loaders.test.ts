import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadFer2013Csv, loadFer2013Folders, splitCsvLine } from '../../src/data/fer2013.js';
import { loadUtkFace, parseUtkName } from '../../src/data/utkface.js';
import { loadFolders } from '../../src/data/folders.js';
import { loadImdbWiki } from '../../src/data/imdb-wiki.js';
import { detectFormat, loadDataset, parseSplitName } from '../../src/data/load.js';
import { readMat } from '../../src/data/mat5.js';
import { decodeImage, ImageDecodeError } from '../../src/data/decode.js';
import { SampleStore } from '../../src/data/store.js';
import { datasetPath } from '../../src/data/paths.js';
import { UserError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';
import { hasScipy, makeClassFolders, makeFerCsv, pngOf, runPython, SYSTEM_PYTHON } from './fixtures.js';

test('fer2013.csv: official splits, malformed rows skipped and counted', async () => {
  const dir = tmpDir();
  const file = makeFerCsv(
    path.join(dir, 'fer2013.csv'),
    [
      { emotion: 0, usage: 'Training' },
      { emotion: 3, usage: 'Training' },
      { emotion: 6, usage: 'PublicTest' },
      { emotion: 5, usage: 'PrivateTest', pixels: Array.from({ length: 2304 }, (_, i) => i % 256) },
    ],
    [
      '7,' + Array(2304).fill(1).join(' ') + ',Training', // emotion out of range
      '2,' + Array(2303).fill(1).join(' ') + ',Training', // one pixel short
      '2,' + Array(2304).fill(300).join(' ') + ',Training', // pixel out of range
      '2,' + Array(2304).fill(1).join(' ') + ',Validation', // unknown usage
      '2,1 2 3', // missing field
      '',
    ],
  );
  const ds = await loadFer2013Csv(file);
  assert.deepEqual(ds.split.counts, { train: 2, val: 1, test: 1 });
  assert.equal(ds.skipped.length, 5);
  assert.match(ds.skipped[0].reason, /emotion "7"/);
  assert.match(ds.skipped[1].reason, /2303 pixel values/);
  assert.equal(ds.skipped[0].id, 'fer2013.csv:6');
  const s = ds.splits.test[0];
  assert.equal(s.label, 5);
  assert.equal(s.pixels!.width, 48);
  assert.equal(s.pixels!.data[300], 300 % 256);
  assert.equal(detectFormat(dir), 'fer2013-csv');
  assert.equal(detectFormat(file), 'fer2013-csv');
});

test('fer2013.csv: a file that is not FER-2013 is a clear error', async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'x.csv');
  fs.writeFileSync(f, 'a,b,c\n1,2,3\n');
  await assert.rejects(loadFer2013Csv(f), (e: Error) => e instanceof UserError && /must name the columns emotion, pixels and Usage/.test(e.message));
  fs.writeFileSync(f, '');
  await assert.rejects(loadFer2013Csv(f), /empty/);
  await assert.rejects(loadFer2013Csv(path.join(dir, 'none.csv')), /does not exist/);
});

test('FER-2013 image folders: split by file-name prefix', async () => {
  const root = tmpDir();
  const img = await sharp({ create: { width: 48, height: 48, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  const put = (rel: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), img);
  };
  for (const c of ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']) {
    put(`train/${c}/Training_1${c}.jpg`);
    put(`test/${c}/PublicTest_2${c}.jpg`);
  }
  put('train/happy/Training_99.jpg');
  put('test/sad/PrivateTest_3.jpg');
  put('test/sad/unknown_4.jpg');
  fs.writeFileSync(path.join(root, 'train', 'happy', 'notes.txt'), 'x');
  assert.equal(detectFormat(root), 'fer2013-folders');
  const ds = loadFer2013Folders(root);
  assert.deepEqual(ds.split.counts, { train: 8, val: 7, test: 1 });
  assert.equal(ds.skipped.length, 1);
  assert.match(ds.skipped[0].reason, /prefix/);
  assert.equal(ds.splits.test[0].label, 4); // sad
});

test('fer2013.csv: a quoted pixels field is read; bad quoting is reported as such, not as bad pixel values', async () => {
  const dir = tmpDir();
  const px = Array.from({ length: 2304 }, (_, i) => i % 256).join(' ');
  const file = makeFerCsv(
    path.join(dir, 'fer2013.csv'),
    [{ emotion: 1, usage: 'Training' }],
    [
      `3,"${px}",PrivateTest`,
      `"4","${px}","PublicTest"`,
      `2,"${px},Training`, // quote never closed
      `2,"${px}"x,Training`, // text after the closing quote
      `2,1 2"3,Training`, // stray quote
    ],
  );
  const ds = await loadFer2013Csv(file);
  assert.deepEqual(ds.split.counts, { train: 1, val: 1, test: 1 });
  assert.deepEqual(Array.from(ds.splits.test[0].pixels!.data.slice(0, 3)), [0, 1, 2]);
  assert.equal(ds.splits.val[0].label, 4);
  assert.deepEqual(
    ds.skipped.map((s) => s.reason),
    [
      'not a CSV row: field 2 opens a quote that is never closed',
      'not a CSV row: field 2 has text after its closing quote',
      'not a CSV row: field 2 has a quote inside an unquoted value',
    ],
  );
  assert.deepEqual(splitCsvLine('a,"b,c","d""e",'), ['a', 'b,c', 'd"e', '']);
});

test('UTKFace names: labels, the known quirks, malformed names skipped', () => {
  assert.deepEqual(parseUtkName('25_0_2_20170116174525125.jpg.chip.jpg'), { age: 25, gender: 'man', race: 'asian' });
  assert.deepEqual(parseUtkName('39_1_20170116174525125.jpg.chip.jpg'), { age: 39, gender: 'woman', race: undefined });
  assert.deepEqual(parseUtkName('61_1_20170109150557335.jpg.chip.jpg'), { age: 61, gender: 'woman', race: undefined });
  assert.equal(parseUtkName('53__0_20170116184028385.jpg.chip.jpg'), undefined);
  assert.equal(parseUtkName('x_0_1_2017.jpg'), undefined);
  assert.equal(parseUtkName('30_2_1_20170116.jpg'), undefined);
});

test('UTKFace: seeded split stratified by gender, deterministic, metadata kept', async () => {
  const root = tmpDir();
  const png = await pngOf(new Uint8Array(64).fill(100), 8);
  const names: string[] = [];
  for (let i = 0; i < 60; i++) names.push(`${10 + i}_${i % 3 === 0 ? 1 : 0}_${i % 5}_2017010915${String(i).padStart(7, '0')}.jpg.chip.jpg`);
  names.push(
    '39_1_20170116174525125.jpg.chip.jpg',
    '44_0_3_20170119201022796 .jpg.chip.jpg',
    '26_1_0_20170116184028385jpg.chip.jpg',
    'bad_name.jpg',
    'README.txt',
  );
  for (const n of names) fs.writeFileSync(path.join(root, n), png);
  assert.equal(detectFormat(root), 'utkface');
  const a = loadUtkFace(root, { seed: 7, val: 0.1, test: 0.2 });
  const b = loadUtkFace(root, { seed: 7, val: 0.1, test: 0.2 });
  const c = loadUtkFace(root, { seed: 8, val: 0.1, test: 0.2 });
  assert.equal(a.skipped.length, 1);
  assert.equal(a.skipped[0].id, path.join(root, 'bad_name.jpg'));
  const total = a.split.counts.train + a.split.counts.val + a.split.counts.test;
  assert.equal(total, 63);
  assert.deepEqual(a.split.ids, b.split.ids);
  assert.notDeepEqual(a.split.ids!.test, c.split.ids!.test);
  // Stratified: each gender contributes its own ~20% to test.
  const women = [...a.splits.train, ...a.splits.val, ...a.splits.test].filter((s) => s.meta!.gender === 'woman').length;
  const testWomen = a.splits.test.filter((s) => s.meta!.gender === 'woman').length;
  assert.equal(testWomen, Math.round(women * 0.2));
  assert.equal(a.splits.test.length - testWomen, Math.round((63 - women) * 0.2));
  const all = [...a.splits.train, ...a.splits.val, ...a.splits.test];
  const noRace = all.find((s) => s.file!.endsWith('39_1_20170116174525125.jpg.chip.jpg'))!;
  assert.deepEqual(noRace.meta, { age: 39, gender: 'woman', race: undefined });
  assert.equal(noRace.label, 0); // GENDER_LABELS = [woman, man]
  assert.equal(all.find((s) => s.file!.includes(' .jpg'))!.meta!.race, 'indian');
  const ds = await loadDataset(root, { task: 'gender', split: { seed: 7, val: 0.1, test: 0.2 } });
  assert.deepEqual(ds.split.counts, a.split.counts);
  await assert.rejects(loadDataset(root, { task: 'emotion' }), /do not fit the emotion task/);
});

test('class folders: seeded split per class, explicit split folders, label checks', async () => {
  const root = await makeClassFolders(path.join(tmpDir(), 'd'), 10, 8);
  const ds = loadFolders(root, { split: { seed: 1, val: 0.2, test: 0.2 } });
  assert.deepEqual(ds.labels, ['bottom', 'top']);
  assert.deepEqual(ds.split.counts, { train: 12, val: 4, test: 4 });
  await assert.rejects(loadDataset(root, { task: 'gender' }), /not labels of this task/);
  const split = tmpDir();
  const png = await pngOf(new Uint8Array(64), 8);
  for (const [s, c] of [
    ['train', 'Female'],
    ['train', 'male'],
    ['val', 'female'],
    ['test', 'male'],
  ]) {
    fs.mkdirSync(path.join(split, s, c), { recursive: true });
    fs.writeFileSync(path.join(split, s, c, 'a.png'), png);
  }
  const g = await loadDataset(split, { task: 'gender' });
  assert.deepEqual(g.labels, ['woman', 'man']);
  assert.deepEqual(g.split.counts, { train: 2, val: 1, test: 1 });
  assert.equal(g.splits.val[0].label, 0);
  assert.throws(() => loadFolders(path.join(split, 'nope')), /does not exist/);
  assert.equal(parseSplitName('PrivateTest'), 'test');
  assert.equal(parseSplitName('PublicTest'), 'val');
  assert.throws(() => parseSplitName('holdout'), /unknown split/);
});

test(
  'MAT v5 reader and IMDB-WIKI loader on a .mat written by scipy',
  { skip: hasScipy() ? false : `needs ${SYSTEM_PYTHON} with scipy (Debian python3-scipy)` },
  async () => {
    const dir = tmpDir();
    const crop = path.join(dir, 'imdb_crop', '01');
    fs.mkdirSync(crop, { recursive: true });
    const png = await pngOf(new Uint8Array(64).fill(90), 8);
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(crop, `nm${i}.jpg`), png);
    runPython(`
import numpy as np, scipy.io
n = 6
paths = np.empty((1, n), dtype=object)
for i in range(n): paths[0, i] = '01/nm%d.jpg' % i
locs = np.empty((1, n), dtype=object)
for i in range(n): locs[0, i] = np.array([[1.0, 2.0, 30.0, 40.0]])
imdb = {
  'dob': np.array([[723671.0, 723671.0, 723671.0, 723671.0, 723671.0, 723671.0]]),  # 1981
  'photo_taken': np.array([[2009, 2009, 2009, 2009, 2009, 1990]], dtype=np.uint16),
  'full_path': paths,
  'gender': np.array([[1.0, 0.0, np.nan, 1.0, 0.0, 1.0]]),
  'name': np.array([['a', 'b', 'c', 'd', 'e', 'f']], dtype=object),
  'face_location': locs,
  'face_score': np.array([[4.5, 3.5, 5.0, -np.inf, 4.0, 3.2]]),
  'second_face_score': np.array([[np.nan, np.nan, np.nan, np.nan, 2.0, np.nan]]),
}
scipy.io.savemat('${dir}/imdb.mat', {'imdb': imdb, 'flags': np.array([[True, False]]), 'i8': np.array([[-3, 4]], dtype=np.int8)}, do_compression=True)
scipy.io.savemat('${dir}/plain.mat', {'s': 'hello', 'm': np.array([[1.5, 2.5], [3.5, 4.5]])}, do_compression=False)
`);
    const plain = readMat(fs.readFileSync(path.join(dir, 'plain.mat')));
    assert.deepEqual(plain.s, { type: 'char', dims: [1, 5], text: 'hello' });
    assert.equal(plain.m.type, 'numeric');
    assert.deepEqual(Array.from((plain.m as { data: Float64Array }).data), [1.5, 3.5, 2.5, 4.5]); // column-major
    const vars = readMat(fs.readFileSync(path.join(dir, 'imdb.mat')));
    assert.equal((vars.flags as { logical?: boolean }).logical, true);
    assert.deepEqual(Array.from((vars.i8 as { data: Float64Array }).data), [-3, 4]);
    const ds = loadImdbWiki(dir, { seed: 1, val: 0, test: 0 });
    assert.equal(detectFormat(dir), 'imdb-wiki');
    assert.deepEqual(ds.filtered, { lowFaceScore: 1, secondFace: 1, unknownGender: 1 });
    const kept = ds.splits.train.map((s) => [path.basename(s.file!), s.label, s.meta!.age]).sort();
    assert.deepEqual(kept, [
      ['nm0.jpg', 1, 28],
      ['nm1.jpg', 0, 28],
      ['nm5.jpg', 1, 9],
    ]);
    assert.equal(ds.root, path.join(dir, 'imdb_crop'));
    fs.writeFileSync(path.join(dir, 'broken.mat'), fs.readFileSync(path.join(dir, 'imdb.mat')).subarray(0, 300));
    assert.throws(
      () => loadImdbWiki(path.join(dir, 'broken.mat')),
      (e: Error) => e instanceof UserError && /broken\.mat/.test(e.message),
    );
  },
);

test('decodeImage: BT.601 grey, errors name the file; SampleStore skips unreadable images and respects its cache budget', async () => {
  const dir = tmpDir();
  const red = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .png()
    .toBuffer();
  const grey = await decodeImage(red, { grey: true });
  assert.equal(grey.channels, 1);
  assert.equal(grey.data[0], 76);
  const bad = path.join(dir, 'corrupt.jpg');
  fs.writeFileSync(bad, Buffer.from('not a jpeg at all'));
  await assert.rejects(decodeImage(bad), (e: Error) => e instanceof ImageDecodeError && e.message.includes(bad));
  await assert.rejects(decodeImage(path.join(dir, 'missing.png')), /no such file/);
  await assert.rejects(decodeImage(red, { maxPixels: 8, name: 'big.png' }), /big\.png.*pixel limit/);

  const root = await makeClassFolders(path.join(dir, 'd'), 4, 16);
  fs.writeFileSync(path.join(root, 'top', 'img0001.png'), Buffer.from('garbage'));
  const ds = loadFolders(root, { split: { seed: 1, val: 0, test: 0 } });
  const full = new SampleStore(ds.splits.train, { inputSize: 8, channels: 1 });
  const tiny = new SampleStore(ds.splits.train, { inputSize: 8, channels: 1, cacheBytes: 3 * 64 });
  assert.equal(full.cachedCount, 8);
  assert.equal(tiny.cachedCount, 3);
  assert.equal(tiny.cachedBytes, 192);
  for (let i = 0; i < 8; i++) {
    const a = await full.get(i);
    const b = await tiny.get(i);
    assert.deepEqual(a && Array.from(a.data), b && Array.from(b.data));
  }
  assert.equal(full.bad.size, 1);
  assert.match(full.skipped()[0].id, /img0001\.png$/);
});

test(
  'real FER-2013 folders: exact official split counts',
  { skip: fs.existsSync(datasetPath('fer2013')) ? false : `dataset not found at ${datasetPath('fer2013')} (set FACECLS_DATASETS)` },
  () => {
    const ds = loadFer2013Folders(datasetPath('fer2013'));
    assert.deepEqual(ds.split.counts, { train: 28709, val: 3589, test: 3589 });
    assert.equal(ds.skipped.length, 0);
    const per = (s: 'train' | 'val' | 'test') => ds.labels.map((_, c) => ds.splits[s].filter((x) => x.label === c).length);
    // angry disgust fear happy sad surprise neutral (datasets README)
    assert.deepEqual(per('train'), [3995, 436, 4097, 7215, 4830, 3171, 4965]);
    assert.deepEqual(per('val'), [467, 56, 496, 895, 653, 415, 607]);
    assert.deepEqual(per('test'), [491, 55, 528, 879, 594, 416, 626]);
  },
);

test(
  'real UTKFace: every file parses, gender counts as documented',
  { skip: fs.existsSync(datasetPath('utkface')) ? false : `dataset not found at ${datasetPath('utkface')} (set FACECLS_DATASETS)` },
  () => {
    const ds = loadUtkFace(datasetPath('utkface'));
    const all = [...ds.splits.train, ...ds.splits.val, ...ds.splits.test];
    assert.equal(all.length, 23707);
    assert.equal(ds.skipped.length, 0);
    assert.equal(all.filter((s) => s.meta!.gender === 'man').length, 12390);
    assert.equal(all.filter((s) => s.meta!.race === undefined).length, 3);
    assert.equal(all.filter((s) => s.meta!.age! < 10).length, 3061);
  },
);
