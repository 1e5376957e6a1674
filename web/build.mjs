#!/usr/bin/env node
/**
 * Builds the browser package and the web page with esbuild:
 * - dist/browser/facecls.js: the browser package (src/browser/index.ts, `import ... from 'facecls/browser'`),
 *   one ESM file with tfjs inside, and tfjs' wasm binaries beside it; its types are tsc's
 *   (dist/src/browser/index.d.ts).
 * - dist/web/: the page (web/src/main.ts, built on the browser package), index.html and style.css.
 * Neither may reach a Node built-in: any `node:` import fails the build (the browser path has none).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(webDir);
export const outDir = path.join(root, 'dist', 'web');
export const browserDir = path.join(root, 'dist', 'browser');

const noNode = {
  name: 'no-node',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `${args.path} imported by ${path.relative(root, args.importer)}: the browser path must not use Node built-ins` }],
    }));
  },
};

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  sourcemap: true,
  logLevel: 'warning',
  plugins: [noNode],
  define: { 'process.env.NODE_ENV': '"production"' },
};

function tfjsWasmDir() {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

/** The browser package: dist/browser/facecls.js and the tfjs wasm binaries. */
export async function buildBrowser({ minify = true } = {}) {
  const esbuild = await import('esbuild');
  fs.mkdirSync(browserDir, { recursive: true });
  await esbuild.build({ ...common, minify, entryPoints: [path.join(root, 'src', 'browser', 'index.ts')], outfile: path.join(browserDir, 'facecls.js') });
  for (const f of fs.readdirSync(tfjsWasmDir())) if (f.endsWith('.wasm')) fs.copyFileSync(path.join(tfjsWasmDir(), f), path.join(browserDir, f));
}

/** The page: dist/web/app.js (web/src/main.ts on the browser package), index.html, style.css. */
export async function buildWeb({ minify = true } = {}) {
  const esbuild = await import('esbuild');
  fs.mkdirSync(outDir, { recursive: true });
  await esbuild
    .build({ ...common, minify, entryPoints: [path.join(webDir, 'src', 'main.ts')], outfile: path.join(outDir, 'app.js'), metafile: true })
    .then((r) => {
      // What went into the bundle (test/web/bundle.test.ts checks the page brings no pipeline code of its own).
      fs.writeFileSync(path.join(root, 'dist', 'web-meta.json'), JSON.stringify(r.metafile));
    });
  for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(webDir, f), path.join(outDir, f));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const minify = !process.argv.includes('--dev');
  await buildBrowser({ minify });
  await buildWeb({ minify });
  console.log(`browser package built into ${path.relative(root, browserDir)}/, web page into ${path.relative(root, outDir)}/ in ${Date.now() - t0} ms`);
}
