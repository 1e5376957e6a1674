import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageBand, groupMetrics } from '../../src/eval/group-metrics.js';
import type { Sample } from '../../src/data/dataset.js';

test('per-group accuracy and age bands', () => {
  const s = (gender: 'woman' | 'man', age: number, race?: string): Sample => ({ id: 'x', label: 0, meta: { gender, age, race } });
  const samples = [s('woman', 25, 'white'), s('woman', 70, 'black'), s('man', 5, 'white'), s('man', 40)];
  const g = groupMetrics(samples, [true, false, true, true]);
  assert.deepEqual(g.gender, [
    { value: 'woman', n: 2, correct: 1, accuracy: 0.5 },
    { value: 'man', n: 2, correct: 2, accuracy: 1 },
  ]);
  assert.deepEqual(
    g.ageBand!.map((r) => r.value),
    ['3-9', '18-29', '30-44', '60+'],
  );
  assert.deepEqual(
    g.race!.map((r) => [r.value, r.n]),
    [
      ['white', 2],
      ['black', 1],
      ['unknown', 1],
    ],
  );
  assert.equal(ageBand(17), '10-17');
  assert.equal(ageBand(18), '18-29');
});
