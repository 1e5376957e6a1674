import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvCell, csvHeader, csvRows } from '../../src/output/csv.js';

test('csvCell quotes commas, quotes and newlines; empty for undefined', () => {
  assert.deepEqual(
    [csvCell('a'), csvCell('a,b'), csvCell('say "hi"'), csvCell('x\ny'), csvCell(undefined), csvCell(0.5)],
    ['a', '"a,b"', '"say ""hi"""', '"x\ny"', '', '0.5'],
  );
});

test('one row per face; a file without faces or with an error is one row with the same column count', () => {
  const header = csvHeader(['happy', 'sad'], ['woman', 'man']).split(',');
  assert.deepEqual(header, ['file', 'width', 'height', 'face', 'x', 'y', 'w', 'h', 'score', 'emotion', 'happy', 'sad', 'gender', 'woman', 'man', 'error']);
  const face = {
    box: [1, 2, 30, 40] as [number, number, number, number],
    score: 0.9,
    emotion: { label: 'sad', scores: { happy: 0.2, sad: 0.8 } },
    gender: { label: 'man', scores: { woman: 0.3, man: 0.7 } },
  };
  const rows = csvRows({ file: 'a,b.jpg', width: 100, height: 80, faces: [face, face] }, ['happy', 'sad'], ['woman', 'man']);
  assert.deepEqual(rows, ['"a,b.jpg",100,80,0,1,2,30,40,0.9,sad,0.2,0.8,man,0.3,0.7,', '"a,b.jpg",100,80,1,1,2,30,40,0.9,sad,0.2,0.8,man,0.3,0.7,']);
  const [err] = csvRows({ file: 'x.jpg', error: 'no such file' }, ['happy', 'sad'], ['woman', 'man']);
  assert.equal(err.split(',').length, header.length);
  assert.ok(err.endsWith(',no such file'));
  // Detection only: the keypoint columns come before error.
  const detectHeader = csvHeader([], [], true).split(',');
  assert.deepEqual(detectHeader.slice(-3), ['left_ear_x', 'left_ear_y', 'error']);
});

test('age columns come last, after error, so every earlier column keeps its position', () => {
  const without = csvHeader(['happy', 'sad'], ['woman', 'man']).split(',');
  const withAge = csvHeader(['happy', 'sad'], ['woman', 'man'], false, true).split(',');
  assert.deepEqual(withAge, [...without, 'age_years', 'age_lo', 'age_hi']);
  const face = {
    box: [1, 2, 30, 40] as [number, number, number, number],
    score: 0.9,
    gender: { label: 'man', scores: { woman: 0.3, man: 0.7 } },
    age: { years: 31.4, range: [24, 40] as [number, number] },
  };
  const [row] = csvRows({ file: 'a.jpg', width: 100, height: 80, faces: [face] }, [], ['woman', 'man'], false, true);
  assert.equal(row, 'a.jpg,100,80,0,1,2,30,40,0.9,,man,0.3,0.7,,31.4,24,40');
  const [plain] = csvRows({ file: 'a.jpg', width: 100, height: 80, faces: [face] }, [], ['woman', 'man']);
  assert.equal(plain, 'a.jpg,100,80,0,1,2,30,40,0.9,,man,0.3,0.7,', 'without the age task the row is as before');
  const [err] = csvRows({ file: 'x.jpg', error: 'no such file' }, ['happy', 'sad'], ['woman', 'man'], false, true);
  assert.equal(err.split(',').length, withAge.length);
  assert.deepEqual(err.split(',').slice(-4), ['no such file', '', '', '']);
});
