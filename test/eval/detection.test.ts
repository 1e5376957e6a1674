import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { datasetPath } from '../../src/data/paths.js';
import type { Box } from '../../src/data/preprocess.js';
import {
  detectDetectionFormat,
  ellipseBox,
  evaluateDetections,
  loadDetectionSet,
  loadFddb,
  loadWiderCsv,
  matchImage,
  precisionAtRecall,
  subsetResult,
  type DetectionSet,
} from '../../src/eval/detection.js';
import { evenlySpaced } from '../../src/eval/detect-eval.js';
import { UserError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('matching: one detection per face in score order, faces outside the subset ignored, duplicates false', () => {
  const faces: Box[] = [
    [0, 0, 10, 10], // in the subset
    [100, 0, 10, 10], // outside it (e.g. a hard face when scoring easy)
  ];
  const member = [true, false];
  const { scored, positives } = matchImage(faces, member, [
    { box: [1, 0, 10, 10], score: 0.9 }, // matches face 0
    { box: [0, 1, 10, 10], score: 0.8 }, // face 0 already taken: false
    { box: [100, 1, 10, 10], score: 0.7 }, // on the ignored face: left out
    { box: [100, 2, 10, 10], score: 0.6 }, // ignored faces absorb any number of detections
    { box: [50, 50, 10, 10], score: 0.5 }, // nothing there: false
    { box: [3, 3, 10, 10], score: 0.4 }, // IoU 0.32 < 0.5 with face 0: false
  ]);
  assert.equal(positives, 1);
  assert.deepEqual(scored, [
    { score: 0.9, tp: true },
    { score: 0.8, tp: false },
    { score: 0.5, tp: false },
    { score: 0.4, tp: false },
  ]);
  // The best-scoring detection takes the face even when a lower one fits it better.
  const order = matchImage(
    [[0, 0, 10, 10]],
    [true],
    [
      { box: [0, 0, 10, 10], score: 0.5 },
      { box: [2, 0, 10, 10], score: 0.9 },
    ],
  );
  assert.deepEqual(order.scored, [
    { score: 0.9, tp: true },
    { score: 0.5, tp: false },
  ]);
});

test('average precision is the area under the precision envelope; precision and recall at the threshold', () => {
  // 2 faces; detections tp 0.9, fp 0.8, tp 0.7: points (R .5, P 1), (.5, .5), (1, 2/3) -> AP .5 * 1 + .5 * 2/3.
  const r = subsetResult(
    'all',
    [
      {
        scored: [
          { score: 0.9, tp: true },
          { score: 0.8, tp: false },
        ],
        positives: 1,
      },
      { scored: [{ score: 0.7, tp: true }], positives: 1 },
    ],
    0.75,
  );
  close(r.ap, 0.5 + 0.5 * (2 / 3));
  assert.deepEqual(r.atThreshold, { threshold: 0.75, precision: 0.5, recall: 0.5, truePositives: 1, falsePositives: 1 });
  close(precisionAtRecall(r, 1), 2 / 3);
  assert.equal(precisionAtRecall(r, 0.5), 1);
  // Nothing found: AP 0, recall 0; a missed face lowers AP.
  assert.equal(subsetResult('all', [{ scored: [], positives: 3 }], 0.5).ap, 0);
  close(subsetResult('all', [{ scored: [{ score: 0.9, tp: true }], positives: 2 }], 0.5).ap, 0.5);
  // Tied scores count together.
  const tie = subsetResult(
    'all',
    [
      {
        scored: [
          { score: 0.8, tp: false },
          { score: 0.8, tp: true },
        ],
        positives: 1,
      },
    ],
    0.5,
  );
  assert.equal(tie.curve.length, 1);
  close(tie.ap, 0.5);
});

test('evaluateDetections: every subset of the set, per-image lists in order', () => {
  const set: DetectionSet = {
    format: 'widerface',
    root: '/x',
    subsets: ['easy', 'hard'],
    images: [
      {
        id: 'a',
        file: '/x/a',
        boxes: [
          [0, 0, 20, 20],
          [40, 0, 8, 8],
        ],
        member: { easy: [true, false], hard: [true, true] },
      },
      { id: 'b', file: '/x/b', boxes: [], member: { easy: [], hard: [] } },
    ],
  };
  const r = evaluateDetections(
    set,
    [
      [
        { box: [0, 0, 20, 20], score: 0.9 },
        { box: [40, 0, 8, 8], score: 0.6 },
      ],
      [{ box: [5, 5, 5, 5], score: 0.7 }],
    ],
    { threshold: 0.5 },
  );
  assert.deepEqual(
    r.map((s) => [s.subset, s.faces, s.detections]),
    [
      ['easy', 1, 2],
      ['hard', 2, 3],
    ],
  );
  close(r[0].ap, 1); // the small face is ignored for easy; the false one in b ranks below the true one
  close(r[1].ap, 0.5 + 0.5 * (2 / 3));
  assert.throws(() => evaluateDetections(set, [[]]), /1 detection lists for 2 images/);
  assert.deepEqual(evenlySpaced(10, 3), [0, 3, 6]);
  assert.deepEqual(evenlySpaced(2, 5), [0, 1]);
});

test('WIDER FACE boxes.csv and FDDB ellipse lists load; bad layouts are user errors', () => {
  const dir = tmpDir();
  const wider = path.join(dir, 'wider');
  fs.mkdirSync(wider);
  fs.writeFileSync(
    path.join(wider, 'boxes.csv'),
    'image,x,y,w,h,blur,expression,illumination,invalid,occlusion,pose,easy,medium,hard\n' +
      'e/a.jpg,10,20,30,40,0,0,0,0,0,0,1,1,1\n' +
      'e/a.jpg,1,2,3,4,2,0,0,0,0,0,0,0,1\n' +
      'e/none.jpg,,,,,,,,,,,,,\n',
  );
  assert.equal(detectDetectionFormat(wider), 'widerface');
  const w = loadWiderCsv(wider);
  assert.deepEqual(w.subsets, ['easy', 'medium', 'hard']);
  assert.deepEqual(
    w.images.map((i) => [i.id, i.boxes.length]),
    [
      ['e/a.jpg', 2],
      ['e/none.jpg', 0],
    ],
  );
  assert.deepEqual(w.images[0].boxes[0], [10, 20, 30, 40]);
  assert.deepEqual(w.images[0].member, { easy: [true, false], medium: [true, false], hard: [true, true] });
  assert.equal(w.images[0].file, path.join(wider, 'images', 'e/a.jpg'));

  const fddb = path.join(dir, 'fddb');
  fs.mkdirSync(path.join(fddb, 'FDDB-folds'), { recursive: true });
  fs.mkdirSync(path.join(fddb, 'originalPics'));
  fs.writeFileSync(
    path.join(fddb, 'FDDB-folds', 'FDDB-fold-01-ellipseList.txt'),
    '2002/08/11/big/img_591\n1\n40 30 0 100 80 1\n2002/08/26/big/img_265\n2\n20 10 1.5707963267948966 50 50  1\n10 10 0.3 0 0 1\n',
  );
  assert.equal(detectDetectionFormat(fddb), 'fddb');
  const f = loadFddb(fddb);
  assert.deepEqual(f.subsets, ['all']);
  assert.deepEqual(
    f.images.map((i) => [i.id, i.boxes.length]),
    [
      ['2002/08/11/big/img_591', 1],
      ['2002/08/26/big/img_265', 2],
    ],
  );
  assert.equal(f.images[0].file, path.join(fddb, 'originalPics', '2002/08/11/big/img_591.jpg'));
  // Angle 0: radius a along x, b along y: the box is 2a x 2b around the centre.
  assert.deepEqual(f.images[0].boxes[0], ellipseBox(40, 30, 0, 100, 80));
  const b = ellipseBox(40, 30, 0, 100, 80);
  [60, 50, 80, 60].forEach((v, i) => close(b[i], v));
  const r = ellipseBox(20, 10, Math.PI / 2, 50, 50); // rotated a quarter turn: the axes swap
  [40, 30, 20, 40].forEach((v, i) => close(r[i], v, 1e-6));
  const circle = ellipseBox(10, 10, 0.3, 0, 0);
  [-10, -10, 20, 20].forEach((v, i) => close(circle[i], v, 1e-9));

  fs.writeFileSync(path.join(fddb, 'FDDB-folds', 'FDDB-fold-02-ellipseList.txt'), 'x/img\ntwo\n');
  assert.throws(
    () => loadFddb(fddb),
    (e: unknown) => e instanceof UserError && /FDDB-fold-02-ellipseList\.txt:1: expected a face count after "x\/img"/.test(e.message),
  );
  assert.throws(
    () => loadDetectionSet(path.join(dir, 'nothing')),
    (e: unknown) => e instanceof UserError && /no detection data/.test(e.message),
  );
  assert.throws(
    () => detectDetectionFormat(dir),
    (e: unknown) => e instanceof UserError && /neither a WIDER FACE set/.test(e.message),
  );
  fs.writeFileSync(path.join(wider, 'boxes.csv'), 'image,x,y,w,h\n');
  assert.throws(
    () => loadWiderCsv(wider),
    (e: unknown) => e instanceof UserError && /missing column "easy"/.test(e.message),
  );
});

const widerDir = datasetPath('widerface-dev500');

test(
  'widerface-dev500 reads as the README describes: 500 photos, 5,853 faces, subsets nested',
  { skip: !fs.existsSync(widerDir) && `widerface-dev500 not found at ${widerDir}: skipped` },
  () => {
    const set = loadDetectionSet(widerDir);
    assert.equal(set.format, 'widerface');
    assert.equal(set.images.length, 500);
    assert.equal(
      set.images.reduce((a, i) => a + i.boxes.length, 0),
      5853,
    );
    for (const im of set.images) {
      im.boxes.forEach((_, k) => {
        if (im.member.easy[k]) assert.ok(im.member.medium[k], `${im.id}: easy face ${k} is medium too`);
        if (im.member.medium[k]) assert.ok(im.member.hard[k], `${im.id}: medium face ${k} is hard too`);
      });
    }
    assert.ok(fs.existsSync(set.images[0].file));
  },
);
