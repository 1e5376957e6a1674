import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../src/data/paths.js';
import { UserError } from '../src/errors.js';
import { flagSetting, intSetting, SETTINGS, settings, type SettingName } from '../src/settings.js';

const root = projectRoot();

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Run `fn` with the variables set (undefined: unset), restoring them after. */
function withEnv<T>(vars: Partial<Record<SettingName, string | undefined>>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const put = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v))
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
  };
  put(vars);
  try {
    return fn();
  } finally {
    put(saved);
  }
}

test('src/settings.ts is the only src file that reads process.env', () => {
  const readers = sourceFiles(path.join(root, 'src'))
    .filter((f) => /process\.env\b/.test(fs.readFileSync(f, 'utf8')))
    .map((f) => path.relative(root, f));
  assert.deepEqual(readers, [path.join('src', 'settings.ts')]);
});

test('every FACECLS_* name the sources mention is a declared setting, and the README table lists them all', () => {
  const declared = new Set<string>(SETTINGS.map((s) => s.name));
  const mentioned = new Set<string>();
  for (const f of sourceFiles(path.join(root, 'src'))) for (const m of fs.readFileSync(f, 'utf8').matchAll(/\bFACECLS_[A-Z_]+[A-Z]\b/g)) mentioned.add(m[0]);
  assert.deepEqual(
    [...mentioned].filter((n) => !declared.has(n)),
    [],
  );
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(
    rows,
    SETTINGS.map((s) => s.name),
  );
});

test('values are read when asked for; blank is unset; bad values are errors naming the variable and the value', () => {
  withEnv({ FACECLS_ORT_THREADS: '4' }, () => assert.equal(settings.ortThreads(), 4));
  withEnv({ FACECLS_ORT_THREADS: '  ' }, () => assert.equal(settings.ortThreads(), undefined));
  withEnv({ FACECLS_ORT_THREADS: 'lots' }, () =>
    assert.throws(
      () => settings.ortThreads(),
      (e: unknown) =>
        e instanceof UserError &&
        e.reason === 'invalid-setting' &&
        e.message === 'environment variable FACECLS_ORT_THREADS must be an integer in [1, 256], got "lots"',
    ),
  );
  withEnv({ FACECLS_ORT_WORKERS: '65' }, () =>
    assert.throws(() => intSetting('FACECLS_ORT_WORKERS', 0, 64), /FACECLS_ORT_WORKERS must be an integer in \[0, 64\], got "65"/),
  );
  withEnv({ FACECLS_RUNTIME: ' TFJS ' }, () => assert.equal(settings.runtime(), 'tfjs'));
  withEnv({ FACECLS_DETECTOR_ENGINE: 'gpu' }, () =>
    assert.throws(() => settings.detectorEngine(), /FACECLS_DETECTOR_ENGINE must be one of onnx, tfjs, got "gpu"/),
  );
  withEnv({ FACECLS_STOCK_BN: '1' }, () => assert.equal(settings.stockBatchNorm(), true));
  withEnv({ FACECLS_STOCK_BN: undefined }, () => assert.equal(settings.stockBatchNorm(), false));
  withEnv({ FACECLS_SIMD_KERNELS: '0' }, () => assert.equal(flagSetting('FACECLS_SIMD_KERNELS', true), false));
  withEnv({ FACECLS_SIMD_KERNELS: 'off' }, () =>
    assert.throws(() => settings.simdKernels(), /FACECLS_SIMD_KERNELS must be one of 0, 1, false, true, got "off"/),
  );
  // FACECLS_PORT wins over PORT; either is checked.
  withEnv({ FACECLS_PORT: '8080', PORT: '9000' }, () => assert.equal(settings.port(), 8080));
  withEnv({ FACECLS_PORT: undefined, PORT: '9000' }, () => assert.equal(settings.port(), 9000));
  withEnv({ FACECLS_PORT: undefined, PORT: '70000' }, () => assert.throws(() => settings.port(), /PORT must be an integer in \[0, 65535\]/));
  withEnv({ FACECLS_LOG_LEVEL: 'loud' }, () => assert.throws(() => settings.logLevel(), /FACECLS_LOG_LEVEL must be one of fatal, error/));
  withEnv({ FACECLS_FFMPEG: undefined }, () => assert.equal(settings.ffmpeg(), 'ffmpeg'));
});
