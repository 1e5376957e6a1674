#!/usr/bin/env node
/**
 * Size limits of the hand-written code (issue 24): no function longer than MAX_FUNCTION_LINES lines,
 * no file longer than MAX_FILE_LINES lines, in src/, web/ and bench/ (generated files, *.generated.ts,
 * are excluded). Functions are found with the TypeScript compiler API; a function's length runs from
 * its first line to its last, nested functions included.
 *
 *   node scripts/check-size.mjs          lists the offenders, exits 1 when there are any
 *   node scripts/check-size.mjs --all    also lists the longest functions and files
 *
 * test/code-size.test.ts runs the same check.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FUNCTION_LINES = 80;
export const MAX_FILE_LINES = 500;
export const DIRS = ['src', 'web', 'bench'];

const SOURCE = /\.(ts|mts|mjs|js)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist']);

function isGenerated(file) {
  return /\.generated\.[cm]?[jt]s$/.test(file) || file.endsWith('.d.ts');
}

/** The source files below `dir` (relative to `root`), sorted. */
export function sourceFiles(root, dir) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .flatMap((e) => {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) return SKIP_DIRS.has(e.name) ? [] : sourceFiles(root, rel);
      return SOURCE.test(e.name) && !isGenerated(e.name) ? [rel] : [];
    })
    .sort();
}

/** A readable name for a function node: its own name, or the variable / property it is assigned to. */
function functionName(node, sf) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name) return node.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) && parent.name) {
    return parent.name.getText(sf);
  }
  if (parent && ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText(sf).replace(/\s+/g, '').slice(-40)})`;
  return '(anonymous)';
}

/** Every function (declaration, expression, arrow, method, accessor, constructor) of a file with its line span. */
export function functionsOf(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      out.push({ file, name: functionName(node, sf), start, end, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function lineCount(text) {
  const n = text.split('\n').length;
  return text.endsWith('\n') ? n - 1 : n;
}

/** Files over the file limit and functions over the function limit, plus all measurements. */
export function measure(root, dirs = DIRS) {
  const files = [];
  const functions = [];
  for (const dir of dirs) {
    for (const file of sourceFiles(root, dir)) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      files.push({ file, lines: lineCount(text) });
      functions.push(...functionsOf(file, text));
    }
  }
  return {
    files,
    functions,
    longFiles: files.filter((f) => f.lines > MAX_FILE_LINES),
    longFunctions: functions.filter((f) => f.lines > MAX_FUNCTION_LINES),
  };
}

function main() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const all = process.argv.includes('--all');
  const m = measure(root);
  const byLines = (a, b) => b.lines - a.lines;
  if (all) {
    console.log('longest files:');
    for (const f of [...m.files].sort(byLines).slice(0, 15)) console.log(`  ${f.lines}\t${f.file}`);
    console.log('longest functions:');
    for (const f of [...m.functions].sort(byLines).slice(0, 25)) console.log(`  ${f.lines}\t${f.file}:${f.start} ${f.name}`);
  }
  for (const f of [...m.longFiles].sort(byLines)) console.log(`file over ${MAX_FILE_LINES} lines: ${f.file} (${f.lines})`);
  for (const f of [...m.longFunctions].sort(byLines)) console.log(`function over ${MAX_FUNCTION_LINES} lines: ${f.file}:${f.start} ${f.name} (${f.lines})`);
  const n = m.longFiles.length + m.longFunctions.length;
  console.log(n === 0 ? `size limits met (${m.files.length} files, ${m.functions.length} functions)` : `${n} over the limits`);
  process.exitCode = n === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
