import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command, Option } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { classifierOptions, TILE_MODES } from '../../src/cli/pipeline-options.js';
import { projectRoot } from '../../src/data/paths.js';
import { DETECTORS, parseDetectorName } from '../../src/detect/types.js';
import { UserError } from '../../src/errors.js';
import { RUNTIMES } from '../../src/runtime/options.js';
import { TTA_MODES } from '../../src/runtime/tta.js';

function find(program: Command, names: string[]): Command {
  let c = program;
  for (const n of names) {
    const next = c.commands.find((x) => x.name() === n);
    assert.ok(next, `command ${names.join(' ')}`);
    c = next;
  }
  return c;
}

const option = (c: Command, flag: string): Option | undefined => c.options.find((o) => o.long === flag);

test('every pipeline command declares --detector (and, where it has them, --runtime and --tta) with the same choices', () => {
  const program = buildProgram();
  const commands = [['classify'], ['detect'], ['annotate'], ['video'], ['webcam'], ['batch', 'submit'], ['serve'], ['saliency'], ['bench', 'pipeline']];
  for (const names of commands) {
    const c = find(program, names);
    const detector = option(c, '--detector');
    assert.deepEqual([detector?.argChoices, detector?.defaultValue], [[...DETECTORS], 'blazeface'], names.join(' '));
    const runtime = option(c, '--runtime');
    if (runtime) assert.deepEqual(runtime.argChoices, [...RUNTIMES], names.join(' '));
    const tta = option(c, '--tta');
    if (tta) assert.deepEqual(tta.argChoices, [...TTA_MODES], names.join(' '));
  }
  assert.deepEqual(option(find(program, ['classify']), '--tiles')?.argChoices, [...TILE_MODES]);
  for (const names of [['classify'], ['serve'], ['video'], ['batch', 'submit']])
    assert.ok(option(find(program, names), '--runtime') && option(find(program, names), '--tta'), names.join(' '));
});

test('parseDetectorName is the one detector check', () => {
  assert.equal(parseDetectorName('haar'), 'haar');
  assert.throws(
    () => parseDetectorName('yolo'),
    (e: unknown) => e instanceof UserError && e.message === 'unknown detector "yolo": choose one of blazeface, haar',
  );
  // Batch jobs bring options without commander: classifierOptions checks them the same way.
  const base = { detector: 'yolo', emotion: true, gender: true, tiles: 'auto', align: true, cropFraming: 'detect' };
  assert.throws(() => classifierOptions(base), /unknown detector "yolo"/);
  assert.throws(() => classifierOptions({ ...base, detector: 'haar', tta: 'rotate' }), /--tta must be one of none, flip/);
  assert.equal(classifierOptions({ ...base, detector: 'haar', runtime: 'tfjs' }).runtime, 'tfjs');
  const src = path.join(projectRoot(), 'src');
  const files = fs.readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const writers = files.filter((f) => fs.readFileSync(path.join(src, f), 'utf8').includes('unknown detector "'));
  assert.deepEqual(writers, [path.join('detect', 'types.ts')]);
});
