import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../src/data/paths.js';
import { MODEL_CARD_JSON, MODEL_CARD_MD, type ModelCard } from '../../src/train/model-card.js';
import { modelCardMarkdown } from '../../src/train/model-card-markdown.js';

test('every shipped MODEL_CARD.md is the rendering of its model-card.json', () => {
  const models = path.join(projectRoot(), 'models');
  const dirs = fs.readdirSync(models).filter((d) => fs.existsSync(path.join(models, d, MODEL_CARD_JSON)));
  assert.ok(dirs.length >= 2, `shipped models with cards: ${dirs.join(', ')}`);
  for (const d of dirs) {
    const card = JSON.parse(fs.readFileSync(path.join(models, d, MODEL_CARD_JSON), 'utf8')) as ModelCard;
    assert.equal(modelCardMarkdown(card), fs.readFileSync(path.join(models, d, MODEL_CARD_MD), 'utf8'), d);
  }
});
