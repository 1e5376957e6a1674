/**
 * Browser test of the web page: Debian chromium (playwright-core) with a fake camera playing a clip
 * composed at test time from a UTKFace face (ffmpeg); the page must detect and label the face in the
 * browser and report its FPS. Writes test-artifacts/web-page.png. Skips when chromium, ffmpeg or the
 * dataset is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { datasetPath, projectRoot } from '../../src/data/paths.js';
import { buildServer, type FaceclsServer } from '../../src/server/app.js';
import { FacePipeline } from '../../src/server/face-pipeline.js';
import { saveZooModels } from '../server/fixture-pipeline.js';
import { tmpDir } from '../helpers/tmp.js';

const CHROMIUM = '/usr/bin/chromium';
const FFMPEG = '/usr/bin/ffmpeg';
const UTK = datasetPath('utkface');
/** A frontal adult face that BlazeFace finds (a fixed file keeps the test deterministic). */
const FACE_FILE = '28_0_4_20170109002937845.jpg.chip.jpg';

function missing(): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} not installed (apt-get install chromium)`;
  if (!fs.existsSync(FFMPEG)) return `${FFMPEG} not installed (apt-get install ffmpeg)`;
  if (!fs.existsSync(path.join(UTK, FACE_FILE))) return `UTKFace face ${FACE_FILE} not found under ${UTK} (set FACECLS_DATASETS)`;
  return undefined;
}

const skip = missing();
if (skip) console.log(`# skipping web page test: ${skip}`);

/** 640x480 composition: the face scaled to 240 px pasted on a flat background, as JPEG and as a y4m clip. */
function compose(dir: string): { clip: string; frame: string } {
  const clip = path.join(dir, 'clip.y4m');
  const frame = path.join(dir, 'frame.jpg');
  const r = spawnSync(
    FFMPEG,
    [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'color=c=0x5a7a8c:s=640x480:r=15',
      '-i',
      path.join(UTK, FACE_FILE),
      '-filter_complex',
      '[1:v]scale=240:240[f];[0:v][f]overlay=200:110,format=yuv420p',
      '-t',
      '2',
      clip,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const j = spawnSync(FFMPEG, ['-v', 'error', '-y', '-i', clip, '-frames:v', '1', frame], { encoding: 'utf8' });
  assert.equal(j.status, 0, j.stderr);
  return { clip, frame };
}

describe('web page in chromium', { skip }, () => {
  let server: FaceclsServer;
  let pipeline: FacePipeline;
  let browser: Browser;
  let url: string;
  let files: { clip: string; frame: string };
  const artifacts = path.join(projectRoot(), 'test-artifacts');

  before(async () => {
    const dir = tmpDir('facecls-web-');
    files = compose(dir);
    const build = (await import(pathToFileURL(path.join(projectRoot(), 'web', 'build.mjs')).href)) as { buildWeb: () => Promise<void> };
    await build.buildWeb();
    const models = await saveZooModels(path.join(dir, 'models'));
    pipeline = await FacePipeline.load({ emotionModel: models.emotion, genderModel: models.gender });
    server = await buildServer({ pipeline, logger: false });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        `--use-file-for-fake-video-capture=${files.clip}`,
      ],
    });
    fs.mkdirSync(artifacts, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await pipeline?.dispose();
  });

  async function open(query = ''): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1200, height: 640 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    // The server's Content-Security-Policy must allow everything the page does (wasm, blob: workers, ...).
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) errors.push(`CSP: ${m.text()}`);
    });
    await page.goto(`${url}/${query}`);
    return { page, errors };
  }

  test('live camera: in-browser detection draws a labelled face box and reports FPS', async () => {
    const { page, errors } = await open();
    try {
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as { facecls?: { frames: number; faces: unknown[] } }).facecls;
          return s !== undefined && s.frames >= 8 && s.faces.length >= 1;
        },
        undefined,
        { timeout: 60_000 },
      );
      const state = await page.evaluate(() => (globalThis as unknown as { facecls: Record<string, unknown> }).facecls);
      await page.screenshot({ path: path.join(artifacts, 'web-page.png') });
      assert.equal(state.mode, 'browser', `page fell back to the server: ${String(state.error)}`);
      assert.equal(state.backend, 'wasm');
      assert.equal(state.crossOriginIsolated, true, 'COOP/COEP make the page cross-origin isolated');
      const faces = state.faces as Array<{ box: number[]; emotion: { label: string }; gender: { label: string }; age: { years: number; range: number[] } }>;
      // The face was pasted at (200, 110), 240 px wide: the box must overlap it well.
      const [x, y, w, h] = faces[0].box;
      const ix = Math.max(0, Math.min(x + w, 440) - Math.max(x, 200));
      const iy = Math.max(0, Math.min(y + h, 350) - Math.max(y, 110));
      assert.ok((ix * iy) / (w * h + 240 * 240 - ix * iy) > 0.3, `box [${faces[0].box.join(', ')}] far from the pasted face`);
      assert.ok(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'].includes(faces[0].emotion.label));
      assert.ok(['woman', 'man'].includes(faces[0].gender.label));
      const label = await page.locator('#faces .face .label').first().textContent();
      assert.match(label ?? '', /(angry|disgust|fear|happy|sad|surprise|neutral) · (woman|man) · age \d+ \(\d+-\d+\)/);
      // The age model (models/age, served by /v1/models) runs in the page too.
      const { years, range } = faces[0].age;
      assert.ok(years >= 1 && years <= 90 && range[0] <= years && years <= range[1], JSON.stringify(faces[0].age));
      assert.ok((label ?? '').includes(`age ${Math.round(years)} (${range[0]}-${range[1]})`));
      assert.equal(await page.locator('#faces .face .bar').count(), 7, 'one probability bar per emotion');
      assert.match((await page.locator('#fps').textContent()) ?? '', /^\d+\.\d fps$/);
      assert.ok(Number(state.fps) > 0);
      // Stopping the camera says so (the status no longer names the running camera).
      await page.click('#camera');
      await page.waitForFunction(() => (globalThis as unknown as { facecls: { source: string } }).facecls.source === 'none', undefined, { timeout: 10_000 });
      const status = (await page.locator('#status').textContent()) ?? '';
      assert.doesNotMatch(status, /camera \d+x\d+/);
      assert.match(status, /camera stopped/);
      assert.equal(await page.locator('#camera').textContent(), 'Start camera');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  test('server mode: a dropped image goes to POST /v1/classify', async () => {
    const { page, errors } = await open('?mode=server&camera=off');
    try {
      await page.waitForFunction(() => (globalThis as unknown as { facecls?: { ready: boolean } }).facecls?.ready === true, undefined, { timeout: 30_000 });
      const posted = page.waitForRequest((r) => r.url().endsWith('/v1/classify') && r.method() === 'POST');
      // A real drag-and-drop of the image file onto the stage.
      const b64 = fs.readFileSync(files.frame).toString('base64');
      const dataTransfer = await page.evaluateHandle((data) => {
        const dt = new DataTransfer();
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        dt.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
        return dt;
      }, b64);
      await page.dispatchEvent('#stage', 'dragover', { dataTransfer });
      await page.dispatchEvent('#stage', 'drop', { dataTransfer });
      await posted;
      await page.waitForFunction(() => (globalThis as unknown as { facecls: { faces: unknown[] } }).facecls.faces.length >= 1, undefined, { timeout: 30_000 });
      const state = await page.evaluate(() => (globalThis as unknown as { facecls: Record<string, unknown> }).facecls);
      assert.equal(state.mode, 'server');
      assert.equal(state.source, 'image');
      assert.match((await page.locator('#status').textContent()) ?? '', /dropped\.jpg: 1 face/);
      assert.match(
        (await page.locator('#faces .face .label').first().textContent()) ?? '',
        /· (woman|man) · age \d+ \(\d+-\d+\)/,
        'the server answer carries the age',
      );
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  test('dropped image file, then ticking the saliency overlay redraws the image shown', async () => {
    const { page, errors } = await open('?camera=off');
    try {
      await page.waitForFunction(() => (globalThis as unknown as { facecls?: { ready: boolean } }).facecls?.ready === true, undefined, { timeout: 30_000 });
      await page.setInputFiles('#file', files.frame);
      await page.waitForFunction(() => (globalThis as unknown as { facecls: { source: string; faces: unknown[] } }).facecls.faces.length >= 1, undefined, {
        timeout: 30_000,
      });
      const pixels = () =>
        page.evaluate(() => {
          const c = document.getElementById('overlay') as HTMLCanvasElement;
          return Array.from(
            c
              .getContext('2d')!
              .getImageData(0, 0, c.width, c.height)
              .data.filter((_, i) => i % 97 === 0),
          ).join(',');
        });
      const plain = await pixels();
      assert.equal(await page.locator('#saliency-method option').count(), 3, 'one option per saliency method');
      await page.check('#saliency');
      await page.waitForFunction(() => (globalThis as unknown as { facecls: { redraws: number } }).facecls.redraws >= 1, undefined, { timeout: 30_000 });
      const state = await page.evaluate(() => (globalThis as unknown as { facecls: Record<string, unknown> }).facecls);
      assert.equal(state.source, 'image');
      assert.equal(state.frames, 1, 'redrawn, not classified again');
      assert.ok((state.timings as { saliency: number }).saliency > 0, 'saliency maps were computed');
      assert.notEqual(await pixels(), plain, 'the image shown changed');
      assert.match((await page.locator('#status').textContent()) ?? '', /frame\.jpg: 1 face/);
      await page.screenshot({ path: path.join(artifacts, 'web-page-saliency.png') });
      const tasks = await page.locator('#saliency-task option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value));
      assert.deepEqual(tasks, ['emotion', 'gender', 'age'], 'the overlay can explain each loaded classifier');
      const emotionMaps = await pixels();
      await page.selectOption('#saliency-task', 'age');
      await page.waitForFunction(() => (globalThis as unknown as { facecls: { redraws: number } }).facecls.redraws >= 2, undefined, { timeout: 30_000 });
      assert.notEqual(await pixels(), emotionMaps, 'the age map differs from the emotion map');
      await page.uncheck('#saliency');
      await page.waitForFunction(() => (globalThis as unknown as { facecls: { redraws: number } }).facecls.redraws >= 3, undefined, { timeout: 30_000 });
      assert.equal(await pixels(), plain, 'unticking restores the plain drawing');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
