/**
 * The page is built on the browser package (issue 24): its bundle brings no classification, TTA or
 * drawing code of its own (web/src only contributes main.ts, which imports everything from
 * src/browser), and neither the page nor the package reaches Node-only code (the build refuses
 * `node:` imports; the server, CLI and Node pipeline stay out).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../../src/data/paths.js';

const root = projectRoot();
let inputs: string[] = [];

before(async () => {
  const build = (await import(pathToFileURL(path.join(root, 'web', 'build.mjs')).href)) as { buildWeb: () => Promise<void>; buildBrowser: () => Promise<void> };
  await build.buildBrowser();
  await build.buildWeb();
  inputs = Object.keys((JSON.parse(fs.readFileSync(path.join(root, 'dist', 'web-meta.json'), 'utf8')) as { inputs: Record<string, unknown> }).inputs);
});

test("the page's own code is main.ts, importing the pipeline from the browser package only", () => {
  assert.deepEqual(
    inputs.filter((f) => f.startsWith('web/')),
    ['web/src/main.ts'],
  );
  const main = fs.readFileSync(path.join(root, 'web', 'src', 'main.ts'), 'utf8');
  const imports = [...main.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(imports, ['../../src/browser/index.js']);
  // No classification, TTA, preprocessing, saliency or drawing of its own.
  for (const own of [
    'predict(',
    'withMirrors',
    'averageMirrors',
    'preprocessBatch',
    'preprocessFace',
    'faceCrop',
    'squareBox',
    'saliencyMaps(',
    'blendSaliency',
    'fillRect',
    'strokeRect',
    'fillText',
    'loadLayersModel',
    '@tensorflow',
  ]) {
    assert.ok(!main.includes(own), `web/src/main.ts contains ${own}`);
  }
});

test('the bundle holds the core (classification, drawing) and no Node-only module', () => {
  for (const f of ['src/core/classify.ts', 'src/core/draw.ts', 'src/core/crop.ts', 'src/browser/classifier.ts', 'src/runtime/tta.ts', 'src/data/preprocess.ts'])
    assert.ok(inputs.includes(f), f);
  const nodeOnly = inputs.filter(
    (f) =>
      /^src\/(server|cli|pipeline|batch|train|eval|inputs|output)\//.test(f) ||
      /^src\/(io\/(model-store|fs-handler)|detect\/blazeface)\.ts$/.test(f) ||
      f.startsWith('node:'),
  );
  assert.deepEqual(nodeOnly, []);
});
