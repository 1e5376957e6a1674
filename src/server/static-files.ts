/**
 * Read-only file serving for the web page: its bundle, the tfjs wasm binaries (from the installed
 * @tensorflow/tfjs-backend-wasm) and the model files the pipeline loaded. Only files known in
 * advance are served (a fixed table built at start), so no request path reaches the file system.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { projectRoot } from '../data/paths.js';
import type { ServedModel } from './pipeline.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Where `web/build.mjs` writes the page bundle. */
export function webBundleDir(): string {
  return path.join(projectRoot(), 'dist', 'web');
}

/** The tfjs wasm backend's binaries, served at /wasm/ so the page needs no CDN. */
export function tfjsWasmDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

/** URL path -> absolute file, for every file the server may send. */
export type FileTable = Map<string, string>;

function addDir(table: FileTable, urlPrefix: string, dir: string, filter: (name: string) => boolean): void {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (filter(name) && fs.statSync(file).isFile()) table.set(`${urlPrefix}${name}`, file);
  }
}

/** Files of a model directory: model.json and the weight files its manifest names (nothing else). */
function modelFiles(dir: string): string[] {
  const json = path.join(dir, 'model.json');
  if (!fs.existsSync(json)) return [];
  const files = ['model.json'];
  try {
    const manifest = (JSON.parse(fs.readFileSync(json, 'utf8')) as { weightsManifest?: Array<{ paths: string[] }> }).weightsManifest ?? [];
    for (const group of manifest) {
      for (const p of group.paths) {
        const abs = path.resolve(dir, p);
        if (path.dirname(abs) === path.resolve(dir)) files.push(path.basename(abs));
      }
    }
  } catch {
    // An unreadable model.json is the pipeline's problem; serve just the JSON.
  }
  return files;
}

export function modelUrl(role: string): string {
  return `/models/${encodeURIComponent(role)}/model.json`;
}

export function buildFileTable(models: ServedModel[]): FileTable {
  const table: FileTable = new Map();
  addDir(table, '/app/', webBundleDir(), (n) => n !== 'index.html');
  const index = path.join(webBundleDir(), 'index.html');
  if (fs.existsSync(index)) table.set('/', index);
  addDir(table, '/wasm/', tfjsWasmDir(), (n) => n.endsWith('.wasm'));
  for (const m of models) {
    for (const f of modelFiles(m.dir)) table.set(`/models/${encodeURIComponent(m.role)}/${f}`, path.join(m.dir, f));
  }
  return table;
}
