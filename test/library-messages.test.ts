/**
 * Library messages name values and files, never command-line flags: the CLI adds flag hints by error
 * reason (src/cli/errors.ts). This scans every throw outside src/cli for a message that names a flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { cliErrorMessage, FLAG_HINTS } from '../src/cli/errors.js';
import { projectRoot } from '../src/data/paths.js';
import { UserError } from '../src/errors.js';

const root = projectRoot();

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') && !e.name.endsWith('.generated.ts') ? [p] : [];
  });
}

/** A `--flag` in message text. */
const FLAG = /(^|[\s(`'"])--[a-z][a-z-]*/;

/** The text of the string literals and template parts in a node, however the message is split over lines. */
function stringParts(node: ts.Node): string[] {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text];
  const own = ts.isTemplateExpression(node) ? [node.head.text, ...node.templateSpans.map((s) => s.literal.text)] : [];
  return [...own, ...node.getChildren().flatMap(stringParts)];
}

/** Where a file makes an error (`new XError(...)`, `xError(...)`) whose message names a flag. */
function flagNamingErrors(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && /Error$/.test(node.expression.getText(sf))) {
      const parts = (node.arguments ?? []).flatMap(stringParts);
      if (parts.some((p) => FLAG.test(p)))
        found.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: ${node.getText(sf).slice(0, 120)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

test('error messages outside src/cli name no command-line flags', () => {
  const offenders = sourceFiles(path.join(root, 'src'))
    .map((f) => path.relative(root, f).split(path.sep).join('/'))
    .filter((f) => !f.startsWith('src/cli/'))
    .flatMap((f) => flagNamingErrors(f, fs.readFileSync(path.join(root, f), 'utf8')));
  assert.deepEqual(offenders, [], 'give the error a reason and its flag hint a row in FLAG_HINTS (src/cli/errors.ts)');
});

test('the scan finds a flag in a message split over lines, and none in a message without one', () => {
  const split = "throw new UserError(\n  `model ${m} is too big: ` +\n    'pass --max-bytes to read it',\n);";
  assert.equal(flagNamingErrors('a.ts', split).length, 1);
  assert.equal(flagNamingErrors('b.ts', 'throw exportError(`layer ${x} (--max-pixels is a flag: ${"--y"})`);').length, 1);
  assert.deepEqual(flagNamingErrors('c.ts', "throw new UserError(`a value of ${n}--${m} is out of range`);\nlog('--flag in a log line');"), []);
});

test('every reason of a library message that had a flag gets a hint naming a flag', () => {
  for (const reason of ['too-much-bad-data', 'no-ages', 'run-exists', 'emotion-model-missing', 'diverged', 'backend-lacks-kernels'] as const) {
    assert.match(FLAG_HINTS[reason] ?? '', FLAG, reason);
  }
});

test('a port in use and an unfinished batch get their flag hints from the CLI', () => {
  const busy = new UserError('cannot listen on 127.0.0.1:3000: the port is in use', { reason: 'address-in-use' });
  assert.equal(cliErrorMessage(busy), 'cannot listen on 127.0.0.1:3000: the port is in use (pick another with --port)');
  const early = new UserError('batch b1 is not finished: 3 of 5 file(s) pending', { reason: 'not-finished' });
  assert.equal(cliErrorMessage(early), `batch b1 is not finished: 3 of 5 file(s) pending (${FLAG_HINTS['not-finished']})`);
  assert.match(cliErrorMessage(early), /--wait/);
});
