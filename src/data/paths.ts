import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fs from 'node:fs';
import { settings } from '../settings.js';

/** Project root (the folder with package.json), found from this file in src/ or dist/src/. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the facecls project root');
    dir = up;
  }
  return dir;
}

/** Where the shared datasets live: env FACECLS_DATASETS, else ../shared/datasets beside the project. */
export function datasetsDir(): string {
  return settings.datasetsDir() ?? path.resolve(projectRoot(), '..', 'shared', 'datasets');
}

export function datasetPath(...parts: string[]): string {
  return path.join(datasetsDir(), ...parts);
}
