import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGE_CENTRES, ageDecade, ageLabels, ageSamples, ageTarget, checkAgeCodec, DEFAULT_AGE_CODEC, expectedAge, nearestAnchor } from '../../src/data/age.js';
import { loadDataset } from '../../src/data/load.js';
import { loadUtkFace, parseUtkName } from '../../src/data/utkface.js';
import { tmpDir } from '../helpers/tmp.js';

const centres = [...AGE_CENTRES];
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);

test('age targets: a distribution over the anchors whose expectation is the age (two-hot and with label noise)', () => {
  for (const sigma of [0, 2]) {
    const codec = { centres, sigma };
    for (const age of [8, 20, 25.5, 33, 47, 61, 80]) {
      const t = ageTarget(age, codec);
      assert.equal(t.length, centres.length);
      assert.ok(Math.abs(sum(t) - 1) < 1e-6, `sums to 1 (${age}, sigma ${sigma})`);
      assert.ok(t.every((v) => v >= 0));
      assert.ok(Math.abs(expectedAge(t, centres) - age) < 1e-4, `expectation ${expectedAge(t, centres)} of ${age} (sigma ${sigma})`);
    }
  }
  // Two-hot: only the two neighbouring anchors.
  assert.deepEqual(
    Array.from(ageTarget(28, { centres, sigma: 0 })).map((v) => Math.round(v * 1000) / 1000),
    [0, 0, 0, 0.5, 0.5, 0, 0, 0],
  );
  // Beyond the anchors: clamped to the end ones.
  assert.equal(ageTarget(0, { centres, sigma: 0 })[0], 1);
  assert.equal(ageTarget(110, { centres, sigma: 0 })[7], 1);
  assert.ok(Math.abs(expectedAge(ageTarget(110, DEFAULT_AGE_CODEC), centres) - 90) < 1e-6);
  // Written in place at an offset, leaving the rest.
  const y = new Float32Array(3 * 8).fill(7);
  ageTarget(40, DEFAULT_AGE_CODEC, y, 8);
  assert.equal(y[0], 7);
  assert.equal(y[16], 7);
  assert.ok(Math.abs(sum(y.subarray(8, 16)) - 1) < 1e-6);
});

test('age codec helpers: labels, nearest anchor, decades, checks', () => {
  assert.deepEqual(ageLabels(), ['1', '7', '16', '24', '32', '44', '60', '90']);
  assert.equal(nearestAnchor(27, centres), 3);
  assert.equal(nearestAnchor(29, centres), 4);
  assert.equal(nearestAnchor(100, centres), 7);
  assert.deepEqual([0, 9, 10, 45, 69, 70, 101].map(ageDecade), ['0-9', '0-9', '10-19', '40-49', '60-69', '70+', '70+']);
  assert.ok(Number.isNaN(expectedAge([0, 0], [1, 2])));
  assert.throws(() => checkAgeCodec({ centres: [5, 3], sigma: 1 }), /ascending/);
  assert.throws(() => checkAgeCodec({ centres: [1, 3], sigma: -1 }), /sigma/);
  const relabelled = ageSamples([
    { id: 'a', label: 0, meta: { age: 33 } },
    { id: 'b', label: 1 },
  ]);
  assert.deepEqual(
    relabelled.map((s) => [s.id, s.label]),
    [['a', 4]],
  );
});

test('parseUtkName: nothing may follow .jpg / .jpg.chip.jpg; the known quirks still parse', () => {
  assert.deepEqual(parseUtkName('25_0_2_20170116174525125.jpg.chip.jpg'), { age: 25, gender: 'man', race: 'asian' });
  assert.deepEqual(parseUtkName('25_0_2_20170116174525125.jpg'), { age: 25, gender: 'man', race: 'asian' });
  assert.deepEqual(parseUtkName('24_0_1_20170116220224657 .jpg.chip.jpg'), { age: 24, gender: 'man', race: 'black' });
  assert.deepEqual(parseUtkName('55_0_0_20170116232725357jpg.chip.jpg'), { age: 55, gender: 'man', race: 'white' });
  assert.deepEqual(parseUtkName('39_1_20170116174525125.jpg.chip.jpg'), { age: 39, gender: 'woman', race: undefined });
  for (const bad of [
    '25_0_2_20170116174525125.jpg.chip.jpg.bak',
    '25_0_2_20170116174525125.jpg.chip.jpg (1).jpg',
    '25_0_2_20170116174525125.jpg.chip.jpgx',
    '25_0_2_20170116174525125.jpg~',
    '25_0_2_20170116174525125_copy.jpg',
    '25_0_2_20170116174525125.png',
    '25_0_2.jpg',
  ]) {
    assert.equal(parseUtkName(bad), undefined, bad);
  }
});

test('UTKFace for the age task: the same split as gender (ids), labels are the anchors, every sample keeps its age', async () => {
  const root = tmpDir('facecls-age-utk-');
  for (let i = 0; i < 60; i++)
    fs.writeFileSync(path.join(root, `${1 + ((i * 7) % 90)}_${i % 2}_${i % 5}_2017010915${String(i).padStart(7, '0')}.jpg.chip.jpg`), 'x');
  fs.writeFileSync(path.join(root, '30_1_0_20170109150000000.jpg.chip.jpg.bak'), 'x');
  const split = { seed: 1337, val: 0.2, test: 0.2 };
  const gender = loadUtkFace(root, split);
  const age = loadUtkFace(root, split, 'age');
  assert.deepEqual(age.split.ids, gender.split.ids);
  assert.deepEqual(age.split.counts, gender.split.counts);
  assert.equal(age.split.method, gender.split.method);
  assert.deepEqual(age.labels, ageLabels());
  for (const s of [...age.splits.train, ...age.splits.val, ...age.splits.test]) assert.equal(s.label, nearestAnchor(s.meta!.age!, centres));
  const viaLoader = await loadDataset(root, { task: 'age', split });
  assert.deepEqual(viaLoader.split.ids, gender.split.ids);
  await assert.rejects(loadDataset(root, { task: 'age', format: 'folders', split }), /has no ages: the age task reads UTKFace/);
});
