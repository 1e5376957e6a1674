import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../src/data/paths.js';
import { benchClassify } from '../../src/runtime/bench.js';
import { MODEL_CARD_JSON, type ModelCard } from '../../src/train/model-card.js';
import { runCli } from '../helpers/cli.js';

describe('classify benchmark', () => {
  it('measures both runtimes for emotion, gender and both, with ratios and targets', async () => {
    const r = await benchClassify({ batch: 4, minMs: 0 });
    assert.equal(r.rows.length, 6);
    assert.deepEqual(new Set(r.rows.map((x) => x.runtime)), new Set(['tfjs-wasm', 'onnxruntime']));
    for (const row of r.rows) {
      for (const t of [row.batch1, row.batchN]) {
        assert.ok(t.msPerFace > 0 && Number.isFinite(t.msPerFace), JSON.stringify(row));
        assert.ok(Math.abs(t.facesPerSecond * t.msPerFace - 1000) < 1e-6);
        assert.ok(t.runs >= 10);
        assert.ok(t.cpuMsPerFace > 0 && Number.isFinite(t.cpuMsPerFace));
      }
    }
    assert.deepEqual(
      r.ratios.map((x) => x.model),
      ['emotion', 'gender', 'emotion+gender'],
    );
    assert.ok(r.targets && r.targets.emotionGenderMsAtBatch1.target === 0.6 && r.targets.facesPerSecondBatched.target === 5000);
    // the shipped models (as their cards describe them) are the ones measured
    const shipped = ['emotion', 'gender'].map((task) => {
      const card = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'models', task, MODEL_CARD_JSON), 'utf8')) as ModelCard;
      return `${card.input.size}x${card.input.size}x${card.input.channels}`;
    });
    assert.deepEqual(
      r.models.map((m) => m.input),
      shipped,
    );
  });
});

describe('facecls bench classify', () => {
  it('prints JSON for one runtime and names bad options and model directories', () => {
    const r = runCli(['bench', 'classify', '--runtime', 'onnx', '--min-ms', '0', '--batch', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { rows: Array<{ runtime: string }>; batch: number };
    assert.equal(j.batch, 2);
    assert.deepEqual([...new Set(j.rows.map((x) => x.runtime))], ['onnxruntime']);
    const bad = runCli(['bench', 'classify', '--runtime', 'gpu']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--runtime must be one of onnx, tfjs, got "gpu"/);
    const missing = runCli(['bench', 'classify', '--emotion', '/nonexistent/emotion', '--min-ms', '0']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /model "\/nonexistent\/emotion" does not exist/);
  });
});
