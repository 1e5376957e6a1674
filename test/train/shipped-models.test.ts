/**
 * Regression guard for the shipped models (models/emotion, models/gender): evaluated here on the
 * datasets in ../shared/datasets, they must stay at or above the floors below, which are the figures
 * measured when they were shipped minus one point. Interim models (training still in progress) are
 * guarded on the validation split only: the protocol reads the test split once, at the final ship;
 * final models are guarded on the test split too (FER-2013 PrivateTest, the UTKFace test split).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { datasetPath, projectRoot } from '../../src/data/paths.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { MODEL_CARD_JSON, type ModelCard } from '../../src/train/model-card.js';

interface Floors {
  /** Accuracy on the validation split (FER-2013 PublicTest / UTKFace val), flip TTA as shipped. */
  val: number;
  valAdults?: number;
  /** Set when the model is final: test split (FER-2013 PrivateTest / UTKFace test). */
  test?: number;
  testAdults?: number;
}

const FLOORS: Record<'emotion' | 'gender', { data: string; floors: Floors }> = {
  emotion: { data: 'fer2013', floors: { val: 0.6412, test: 0.659 } },
  gender: { data: 'utkface', floors: { val: 0.9014, valAdults: 0.9531, test: 0.8985, testAdults: 0.9392 } },
};

for (const [task, { data, floors }] of Object.entries(FLOORS) as Array<[keyof typeof FLOORS, (typeof FLOORS)[keyof typeof FLOORS]]>) {
  const dir = path.join(projectRoot(), 'models', task);
  const root = datasetPath(data);
  const skip = !fs.existsSync(root) ? `${data} not found at ${root} (set FACECLS_DATASETS): shipped ${task} model not evaluated` : false;
  test(`shipped ${task} model stays above its floors`, { skip }, async () => {
    const card = JSON.parse(fs.readFileSync(path.join(dir, MODEL_CARD_JSON), 'utf8')) as ModelCard;
    const final = card.status === 'final';
    const splits: Array<['val' | 'test', boolean, number | undefined]> = [
      ['val', false, floors.val],
      ['val', true, floors.valAdults],
      ...(final
        ? ([
            ['test', false, floors.test],
            ['test', true, floors.testAdults],
          ] as Array<['test', boolean, number | undefined]>)
        : []),
    ];
    if (final) assert.ok(floors.test !== undefined, `models/${task} is final: its test-split floor must be set in this file`);
    for (const [split, adults, floor] of splits) {
      if (floor === undefined) continue;
      const r = await evaluate({ model: dir, data: root, split, adults, tta: card.evaluation.tta });
      const acc = r.metrics.accuracy;
      console.log(`# ${task} ${split}${adults ? ' adults' : ''}: ${(acc * 100).toFixed(2)}% (floor ${(floor * 100).toFixed(2)}%, n ${r.metrics.n})`);
      assert.ok(acc >= floor, `${task} ${split}${adults ? ' adults' : ''} accuracy ${(acc * 100).toFixed(2)}% fell below the floor ${(floor * 100).toFixed(2)}%`);
    }
  });
}
