/**
 * Regression guard for the shipped age models (models/age; an accurate one when shipped): evaluated on the UTKFace splits in
 * ../shared/datasets, its mean absolute errors must stay at or below the ceilings below, which are
 * the figures measured when it was shipped plus 0.25 years (the shipped-model floors of the
 * classifiers allow one point of accuracy the same way). Test-split ceilings apply once the model is
 * final. The fairness gaps of the issue on test adults (no ethnic group more than 1 year worse than
 * overall, women and men within 0.5 years) are guarded at those targets, which the shipped models meet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { datasetPath, projectRoot } from '../../src/data/paths.js';
import { ageGaps } from '../../src/eval/age-metrics.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { MODEL_JSON } from '../../src/io/fs-handler.js';
import { MODEL_CARD_JSON, type ModelCard } from '../../src/train/model-card.js';

interface Ceilings {
  val: number;
  valAdults: number;
  test: number;
  testAdults: number;
  /** Test adults: worst ethnic group's MAE minus overall, and |women - men|, years. */
  worstEthnicGroup: number;
  womenMen: number;
}

// Shipped in session 14 (flip TTA; training/PREREGISTERED.md): models/age = training/age-v3 (64x64 input), val 5.22 /
// adults 5.71, test 5.04 / adults 5.42 years; each + 0.25. Its test adults gaps (worst ethnic group +0.51, women - men
// -0.28) meet the targets (1 and 0.5 years), which are the guards here. No accurate age model is shipped (the
// better validation ensembles mix 48 and 64 inputs, which `ship` does not build): --accurate runs models/age.
const SHIPPED: Array<[name: string, ceilings: Ceilings]> = [
  ['age', { val: 5.47, valAdults: 5.96, test: 5.29, testAdults: 5.67, worstEthnicGroup: 1, womenMen: 0.5 }],
];

const dir = path.join(projectRoot(), 'models', 'age');
const root = datasetPath('utkface');
const readCard = (modelDir: string) => JSON.parse(fs.readFileSync(path.join(modelDir, MODEL_CARD_JSON), 'utf8')) as ModelCard;

test('models/age is a fast model: at most 60,000 parameters, as its weights and card say', { skip: !fs.existsSync(dir) && 'models/age is not shipped' }, () => {
  const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8')) as { weightsManifest: Array<{ weights: Array<{ shape: number[] }> }> };
  const params = json.weightsManifest.flatMap((g) => g.weights).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(readCard(dir).architecture.params, params);
  assert.ok(params <= 60_000, `models/age has ${params} parameters`);
});

for (const [name, CEILINGS] of SHIPPED) {
  const modelDir = path.join(projectRoot(), 'models', name);
  const skip = !fs.existsSync(modelDir)
    ? `models/${name} is not shipped`
    : !fs.existsSync(root)
      ? `utkface not found at ${root} (set FACECLS_DATASETS): models/${name} not evaluated`
      : false;
  test(`models/${name} stays below its MAE ceilings`, { skip }, async () => {
    const card = readCard(modelDir);
    const final = card.status === 'final';
    const splits: Array<['val' | 'test', boolean, number]> = [
      ['val', false, CEILINGS.val],
      ['val', true, CEILINGS.valAdults],
      ...(final
        ? ([
            ['test', false, CEILINGS.test],
            ['test', true, CEILINGS.testAdults],
          ] as Array<['test', boolean, number]>)
        : []),
    ];
    for (const [split, adults, ceiling] of splits) {
      const r = await evaluate({ model: modelDir, data: root, split, adults, tta: card.evaluation.tta });
      const a = r.age!;
      console.log(`# ${name} ${split}${adults ? ' adults' : ''}: MAE ${a.mae.toFixed(3)} (ceiling ${ceiling.toFixed(2)}, n ${a.n})`);
      assert.ok(a.mae <= ceiling, `age ${split}${adults ? ' adults' : ''} MAE ${a.mae.toFixed(3)} rose above the ceiling ${ceiling}`);
      if (split === 'test' && adults) {
        const g = ageGaps(a);
        console.log(
          `# age test adults: worst ethnic group ${g.worstEthnicGroup?.value} +${g.worstEthnicGroup?.aboveOverall.toFixed(2)}, women - men ${g.womenMinusMen?.toFixed(2)} years`,
        );
        assert.ok(g.worstEthnicGroup!.aboveOverall <= CEILINGS.worstEthnicGroup, `worst ethnic group ${g.worstEthnicGroup!.aboveOverall} years above overall`);
        assert.ok(Math.abs(g.womenMinusMen!) <= CEILINGS.womenMen, `women and men ${g.womenMinusMen} years apart`);
      }
    }
  });
}
