import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotationShapes, drawFaces, layoutFaces, overlaySvg, type Canvas2D, type Rect } from '../../src/core/draw.js';
import type { FaceResult } from '../../src/core/types.js';
import type { Box } from '../../src/data/preprocess.js';

const EMOTIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

function face(box: Box, label = 'happy'): FaceResult {
  const scores = Object.fromEntries(EMOTIONS.map((e) => [e, e === label ? 0.7 : 0.05]));
  return { box, score: 0.9, emotion: { label, scores }, gender: { label: 'woman', scores: { woman: 0.8, man: 0.2 } } };
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

function panels(width: number, height: number, faces: FaceResult[]): { boxes: Rect[]; panels: Rect[] } {
  const layout = layoutFaces(width, height, faces);
  return { boxes: layout.map((l) => l.box), panels: layout.flatMap((l) => [l.label, l.bars].filter((r): r is NonNullable<typeof r> => r !== undefined)) };
}

test('labels and bar panels sit clear of every face and of each other when the image has room', () => {
  // Faces side by side with a gap narrower than a bar panel, one near the right edge, one near the top.
  const scenes: Array<[number, number, FaceResult[]]> = [
    [640, 480, [face([100, 150, 120, 120]), face([240, 150, 120, 120], 'sad'), face([380, 160, 110, 110], 'angry')]],
    [640, 480, [face([520, 40, 110, 110]), face([20, 5, 100, 100])]],
    [1280, 720, [face([300, 200, 150, 150]), face([470, 210, 150, 150]), face([640, 190, 160, 160])]],
  ];
  for (const [w, h, faces] of scenes) {
    const { boxes, panels: ps } = panels(w, h, faces);
    assert.equal(ps.length, 2 * faces.length);
    for (const p of ps) {
      assert.ok(p.x >= 0 && p.y >= 0 && p.x + p.w <= w + 1e-9 && p.y + p.h <= h + 1e-9, `panel ${JSON.stringify(p)} inside the ${w}x${h} image`);
      for (const b of boxes) assert.equal(overlap(p, b), 0, `panel ${JSON.stringify(p)} covers face ${JSON.stringify(b)}`);
      for (const q of ps) if (q !== p) assert.equal(overlap(p, q), 0, `panels ${JSON.stringify(p)} and ${JSON.stringify(q)} overlap`);
    }
  }
});

test('a face filling the image still gets its label and bars (over itself: the least covering place)', () => {
  const { panels: ps } = panels(200, 200, [face([0, 0, 200, 200])]);
  assert.equal(ps.length, 2);
  for (const p of ps) assert.ok(p.x >= 0 && p.y >= 0 && p.x + p.w <= 200 && p.y + p.h <= 200);
});

test('SVG and canvas render the same shapes; text is escaped; faces without classes get a box only', () => {
  const faces = [face([10, 40, 80, 80]), { box: [200, 40, 60, 60] as Box, score: 0.5 }];
  const shapes = annotationShapes(320, 240, faces);
  const svg = overlaySvg(320, 240, [...faces, { ...face([100, 150, 50, 50]), emotion: { label: '<b>&', scores: { '<b>&': 1 } } }]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="320" height="240">/);
  assert.ok(svg.includes('&#60;b&#62;&#38;') && !svg.includes('<b>'));
  const calls: string[] = [];
  const ctx: Canvas2D = {
    fillStyle: '',
    strokeStyle: '',
    lineWidth: 1,
    font: '',
    globalAlpha: 1,
    fillRect: () => calls.push('fillRect'),
    strokeRect: () => calls.push('strokeRect'),
    fillText: () => calls.push('fillText'),
    save: () => calls.push('save'),
    restore: () => calls.push('restore'),
  };
  drawFaces(ctx, 320, 240, faces);
  const count = (k: string) => calls.filter((c) => c === k).length;
  assert.equal(count('strokeRect'), shapes.filter((s) => s.kind === 'rect' && s.stroke).length);
  assert.equal(count('fillRect'), shapes.filter((s) => s.kind === 'rect' && s.fill).length);
  assert.equal(count('fillText'), shapes.filter((s) => s.kind === 'text').length);
  // Face 2 has no classes: one box, no label, no bars.
  assert.equal(layoutFaces(320, 240, faces)[1].label, undefined);
  assert.equal(count('fillText'), 1 + 7);
});

test('the label carries the age when the face has one: "happy 70% · woman 80% · age 31"', () => {
  const withAge = { ...face([40, 60, 100, 100]), age: { years: 31.4, range: [24, 40] as [number, number] } };
  const [l] = layoutFaces(640, 480, [withAge]);
  assert.equal(l.label?.text, 'happy 70% · woman 80% · age 31');
  assert.equal(layoutFaces(640, 480, [face([40, 60, 100, 100])])[0].label?.text, 'happy 70% · woman 80%', 'no age, no age text');
  const ageOnly = layoutFaces(640, 480, [{ box: [40, 60, 100, 100], score: 0.9, age: { years: 67.6, range: [53, 85] } }])[0];
  assert.equal(ageOnly.label?.text, 'age 68');
  assert.equal(ageOnly.bars, undefined, 'bars are for emotion only');
  assert.ok(overlaySvg(640, 480, [withAge]).includes('age 31'));
});
