/**
 * The browser package's runtime, measured in chromium (playwright-core, /usr/bin/chromium): tfjs on
 * the wasm backend running BlazeFace on a 640x480 frame and the shipped emotion + gender models on 1
 * and 4 faces (the core's classification step: crops, preprocessing, flip TTA), median ms of --runs
 * after a warm-up. Printed beside the onnxruntime-web figures measured when the runtime was chosen
 * (onnxruntime-web is not a dependency, so they are not re-measured here; see docs/browser.md).
 *
 *   npm run build && node dist/bench/browser-runtime.js [--runs 20] [--json]
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { projectRoot } from '../src/data/paths.js';
import { argOr } from './args.js';

/** onnxruntime-web (wasm) on the same tasks, measured when the browser runtime was chosen (ms). */
export const ORT_WEB_RECORDED = { blazeface: 220.1, classify1: 22.4, classify4: 46.8 };

const root = projectRoot();
const runs = Number(argOr('runs', '20'));
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html' };
const PAGE = `<!doctype html><script type="module">window.facecls = await import('/dist/browser/facecls.js');</script>`;

const server = http.createServer((req, res) => {
  const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1);
  if (rel === 'bench.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  const file = path.join(root, rel);
  if (!/^(dist\/browser|models|assets\/blazeface)\//.test(rel) || rel.includes('..') || !fs.existsSync(file)) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/bench.html`);
  await page.waitForFunction(() => 'facecls' in globalThis, undefined, { timeout: 60_000 });
  const figures = await page.evaluate(async (n) => {
    type Pkg = typeof import('../src/browser/index.js');
    const pkg = (globalThis as unknown as { facecls: Pkg }).facecls;
    const fc = await pkg.BrowserFaceClassifier.load({ baseUrl: '/' });
    const img = { data: new Uint8ClampedArray(640 * 480 * 4).map((_, i) => (i * 31) % 251), width: 640, height: 480, channels: 4 as const };
    const dets = (k: number) => Array.from({ length: k }, (_, i) => ({ box: [40 + i * 140, 150, 120, 120] as [number, number, number, number], score: 1 }));
    const median = async (f: () => Promise<unknown>) => {
      await f();
      const t: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f();
        t.push(performance.now() - t0);
      }
      return t.sort((a, b) => a - b)[Math.floor(n / 2)];
    };
    return {
      backend: `${fc.backend.name}${fc.backend.threads ? ' (threads)' : ''}`,
      blazeface: await median(() => fc.detect(img, { tiles: false })),
      classify1: await median(() => pkg.classifyDetections(img, dets(1), fc.models, { detector: 'blazeface' })),
      classify4: await median(() => pkg.classifyDetections(img, dets(4), fc.models, { detector: 'blazeface' })),
    };
  }, runs);
  if (process.argv.includes('--json')) console.log(JSON.stringify({ tfjsWasm: figures, onnxruntimeWebRecorded: ORT_WEB_RECORDED }));
  else {
    const row = (name: string, a: number, b: number) => `${name.padEnd(22)} ${a.toFixed(1).padStart(8)} ${b.toFixed(1).padStart(16)}`;
    console.log(`${'ms (median)'.padEnd(22)} ${'tfjs wasm'.padStart(8)} ${'ort-web (recorded)'.padStart(16)}   backend: ${figures.backend}`);
    console.log(row('BlazeFace 640x480', figures.blazeface, ORT_WEB_RECORDED.blazeface));
    console.log(row('classify 1 face', figures.classify1, ORT_WEB_RECORDED.classify1));
    console.log(row('classify 4 faces', figures.classify4, ORT_WEB_RECORDED.classify4));
  }
} finally {
  await browser.close();
  server.close();
}
