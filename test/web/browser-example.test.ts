/**
 * The browser package in a third-party page (docs/browser-example/index.html): served like an
 * installed package (dist/browser, models/, assets/blazeface/ under one root, plain static files, no
 * facecls server), opened in Debian chromium (playwright-core), given a photo of a UTKFace face. The
 * page must find the face and classify it as the Node pipeline does (same shipped models, same core).
 * Skips when chromium or the dataset is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { chromium, type Browser } from 'playwright-core';
import type { FaceResult } from '../../src/core/types.js';
import { datasetPath, projectRoot } from '../../src/data/paths.js';
import { FaceClassifier } from '../../src/pipeline/face-classifier.js';
import { tmpDir } from '../helpers/tmp.js';

const CHROMIUM = '/usr/bin/chromium';
const FACE = path.join(datasetPath('utkface'), '28_0_4_20170109002937845.jpg.chip.jpg');
const root = projectRoot();
/** What a third-party server would serve of the package: nothing else is reachable. */
const SERVED = ['dist/browser/', 'models/', 'assets/blazeface/', 'docs/browser-example/'];
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

function missing(): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} not installed (apt-get install chromium)`;
  if (!fs.existsSync(FACE)) return `UTKFace face not found under ${datasetPath('utkface')} (set FACECLS_DATASETS)`;
  return undefined;
}

const skip = missing();
if (skip) console.log(`# skipping browser package example test: ${skip}`);

function staticServer(): http.Server {
  return http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const file = path.join(root, rel.endsWith('/') ? `${rel}index.html` : rel);
    const ok = SERVED.some((d) => rel.startsWith(d)) && !rel.includes('..') && fs.existsSync(file) && fs.statSync(file).isFile();
    if (!ok) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
}

describe('browser package in a third-party page', { skip }, () => {
  let server: http.Server;
  let browser: Browser;
  let base: string;
  const photo = path.join(tmpDir('facecls-example-'), 'photo.png');

  before(async () => {
    const build = (await import(pathToFileURL(path.join(root, 'web', 'build.mjs')).href)) as { buildBrowser: () => Promise<void> };
    await build.buildBrowser();
    const face = await sharp(FACE).resize(240, 240).toBuffer();
    await sharp({ create: { width: 640, height: 480, channels: 3, background: '#5a7a8c' } })
      .composite([{ input: face, left: 200, top: 110 }])
      .png()
      .toFile(photo);
    server = staticServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  test('loads the package, its models and BlazeFace over HTTP, finds and classifies the face as Node does', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    try {
      await page.goto(`${base}/docs/browser-example/`);
      await page.waitForFunction(() => /^ready/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 60_000 });
      await page.check('#saliency');
      await page.setInputFiles('#file', photo);
      await page.waitForFunction(() => (globalThis as unknown as { faces?: unknown[] }).faces !== undefined, undefined, { timeout: 60_000 });
      const faces = (await page.evaluate(() => (globalThis as unknown as { faces: unknown }).faces)) as FaceResult[];
      fs.mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: path.join(root, 'test-artifacts', 'browser-example.png') });
      assert.equal(faces.length, 1, JSON.stringify(faces));
      const [x, y, w, h] = faces[0].box;
      const ix = Math.max(0, Math.min(x + w, 440) - Math.max(x, 200));
      const iy = Math.max(0, Math.min(y + h, 350) - Math.max(y, 110));
      assert.ok((ix * iy) / (w * h + 240 * 240 - ix * iy) > 0.3, `box [${faces[0].box.join(', ')}] far from the pasted face`);

      const fc = await FaceClassifier.load({ runtime: 'tfjs', classifierWorkers: 0 });
      try {
        const [node] = await fc.classify(photo);
        for (const task of ['emotion', 'gender'] as const) {
          const b = faces[0][task]!;
          const n = node[task]!;
          for (const [label, p] of Object.entries(n.scores))
            assert.ok(Math.abs(b.scores[label] - p) < 0.05, `${task} ${label}: browser ${b.scores[label]} vs Node ${p}`);
          const sorted = Object.values(n.scores).sort((a, c) => c - a);
          if (sorted[0] - sorted[1] > 0.1) assert.equal(b.label, n.label, `${task} label`);
        }
        // Age: the shipped models/age over HTTP, the same estimate as Node's.
        const [ba, na] = [faces[0].age!, node.age!];
        assert.ok(Math.abs(ba.years - na.years) <= 1, `age: browser ${ba.years} vs Node ${na.years}`);
        assert.ok(Math.abs(ba.range[0] - na.range[0]) <= 1 && Math.abs(ba.range[1] - na.range[1]) <= 1, `range: [${ba.range}] vs [${na.range}]`);
        assert.match((await page.locator('#status').textContent()) ?? '', new RegExp(` · age ${Math.round(ba.years)} \\(${ba.range[0]}-${ba.range[1]}\\)`));
      } finally {
        await fc.dispose();
      }
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
