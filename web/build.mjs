#!/usr/bin/env node
/**
 * Builds the web page into dist/web/: esbuild bundles web/src/main.ts with tfjs (wasm backend) and
 * the project's own preprocessing, detector and saliency code; index.html and style.css are copied.
 * Node built-ins referenced by shared modules (only on their Node-only paths, e.g. loading a model
 * from disk) are replaced by stubs that throw if ever called in the browser.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(webDir);
export const outDir = path.join(root, 'dist', 'web');

const nodeStubs = {
  name: 'node-stubs',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => {
      const fail = `() => { throw new Error('${args.path} is not available in the browser'); }`;
      const names = ['join', 'dirname', 'basename', 'resolve', 'relative', 'extname', 'existsSync', 'readFileSync', 'writeFileSync', 'mkdirSync', 'openSync', 'writeSync', 'fsyncSync', 'closeSync', 'renameSync', 'rmSync', 'readdirSync', 'statSync', 'fileURLToPath', 'pathToFileURL'];
      return { contents: `${names.map((n) => `export const ${n} = ${fail};`).join('\n')}\nexport const sep = '/';\nexport default {};`, loader: 'js' };
    });
  },
};

export async function buildWeb({ minify = true } = {}) {
  const esbuild = await import('esbuild');
  fs.mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(webDir, 'src', 'main.ts')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify,
    sourcemap: true,
    logLevel: 'warning',
    plugins: [nodeStubs],
    // Node-only engines that shared modules import lazily; never loaded by the page.
    external: ['onnxruntime-node', 'sharp'],
    define: { 'process.env.NODE_ENV': '"production"' },
    inject: [path.join(webDir, 'process-shim.js')],
  });
  for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(webDir, f), path.join(outDir, f));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  await buildWeb({ minify: !process.argv.includes('--dev') });
  console.log(`web page built into ${path.relative(root, outDir)}/ in ${Date.now() - t0} ms`);
}
