/**
 * facecls web page: live webcam (or dropped image) face detection with emotion and gender, entirely
 * in the browser. tfjs runs on the wasm backend (binaries served by this server at /wasm/; threads
 * when the page is cross-origin isolated) or webgl/cpu on request (?backend=webgl); models come from
 * the same server (GET /v1/models). Detection is the project's BlazeFace decoder (src/detect), crops
 * go through the project's single preprocessing function (src/data/preprocess.ts), saliency maps are
 * src/viz's. ?mode=server sends frames to POST /v1/classify instead (fallback when models cannot run
 * in the browser).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { faceCrop, preprocessBatch, squareBox, type Box, type RawImage } from '../../src/data/preprocess.js';
import { BlazeFaceDetector } from '../../src/detect/blazeface.js';
import { DETECTOR_FRAMING, type Detection } from '../../src/detect/types.js';
import { blendSaliency } from '../../src/viz/overlay.js';
import { saliencyMaps, type SaliencyMethod } from '../../src/viz/saliency.js';

import { EMOTION_COLOURS } from '../../src/pipeline/colours.js';
import { averageMirrors, withMirrors } from '../../src/runtime/tta.js';

interface LabelScores {
  label: string;
  scores: Record<string, number>;
}
interface Face {
  box: Box;
  score: number;
  emotion?: LabelScores;
  gender?: LabelScores;
}
interface ModelEntry {
  role: string;
  format: string;
  url: string;
  meta?: { labels: string[]; inputSize: number; channels: number; task: string; tta?: string };
  info?: { cropMargin?: number; [k: string]: unknown };
}
interface Classifier {
  role: 'emotion' | 'gender';
  model: tf.LayersModel;
  labels: string[];
  inputSize: number;
  channels: 1 | 3;
  margin: number;
  /** Flip test-time augmentation recorded in the model (facecls ship --tta flip), as in every runtime. */
  flip: boolean;
}

/** State the page exposes for tests and curious users (window.facecls). */
const state = {
  ready: false,
  mode: 'browser' as 'browser' | 'server',
  backend: '',
  threads: false,
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  source: 'none' as 'none' | 'camera' | 'image',
  frames: 0,
  fps: 0,
  faces: [] as Face[],
  timings: { detect: 0, classify: 0, saliency: 0, total: 0 },
  error: '',
};
(globalThis as unknown as { facecls: typeof state }).facecls = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const video = $<HTMLVideoElement>('video');
const overlay = $<HTMLCanvasElement>('overlay');
const statusEl = $('status');
const fpsEl = $('fps');
const facesEl = $('faces');
const timingEl = $('timing');
const stage = $('stage');
const cameraBtn = $<HTMLButtonElement>('camera');
const saliencyBox = $<HTMLInputElement>('saliency');
const tilesBox = $<HTMLInputElement>('tiles');
const saliencyMethod = $<HTMLSelectElement>('saliency-method');
const work = document.createElement('canvas');
const workCtx = work.getContext('2d', { willReadFrequently: true })!;
const ctx = overlay.getContext('2d')!;

const params = new URLSearchParams(location.search);

function setStatus(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', error);
  if (error) state.error = text;
}

let detector: BlazeFaceDetector | undefined;

const classifiers: Classifier[] = [];
let saliencyAvailable = false;

async function setupBackend(): Promise<void> {
  const wanted = params.get('backend') ?? 'wasm';
  setWasmPaths('/wasm/');
  for (const name of [wanted, 'wasm', 'cpu']) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        break;
      }
    } catch {
      // try the next backend
    }
  }
  state.backend = tf.getBackend();
  if (state.backend === 'wasm') state.threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
}

async function loadModels(): Promise<void> {
  const res = await fetch('/v1/models');
  if (!res.ok) throw new Error(`GET /v1/models answered ${res.status}`);
  const info = (await res.json()) as { detector: string; saliency: boolean; models: ModelEntry[] };
  $('models').textContent = info.models
    .map((m) => `${m.role}: ${m.meta ? `${m.meta.labels.join('/')} ${m.meta.inputSize}x${m.meta.inputSize}x${m.meta.channels}` : m.format} ${JSON.stringify(m.info ?? {})}`)
    .join('\n');
  if (state.mode === 'server') return;
  for (const m of info.models) {
    if ((m.role === 'emotion' || m.role === 'gender') && m.meta) {
      const model = await tf.loadLayersModel(m.url);
      classifiers.push({
        role: m.role,
        model,
        labels: m.meta.labels,
        inputSize: m.meta.inputSize,
        channels: m.meta.channels === 3 ? 3 : 1,
        margin: m.info?.cropMargin ?? (1 / DETECTOR_FRAMING.blazeface.scale - 1) / 2,
        flip: m.meta.tta === 'flip',
      });
    }
  }
  const det = info.models.find((m) => m.role === 'detector');
  if (!det) throw new Error('the server offers no detector model');
  // The project's BlazeFace decoder (letterbox, anchors, weighted NMS) over the graph model from the server.
  detector = BlazeFaceDetector.fromGraphModel(await tf.loadGraphModel(det.url));
  // Smoke test on a blank frame: fails fast (-> server mode) if the detector cannot run here.
  await detector.detect({ data: new Uint8ClampedArray(64 * 48 * 4), width: 64, height: 48, channels: 4 });
  saliencyAvailable = classifiers.some((c) => c.role === 'emotion');
  saliencyBox.disabled = !saliencyAvailable;
}

function toRaw(source: CanvasImageSource, width: number, height: number): RawImage {
  work.width = width;
  work.height = height;
  workCtx.drawImage(source, 0, 0, width, height);
  const id = workCtx.getImageData(0, 0, width, height);
  return { data: id.data, width, height, channels: 4 };
}

async function classifyInBrowser(img: RawImage): Promise<{ faces: Face[]; crops: Map<string, Float32Array> }> {
  const t0 = performance.now();
  // Live video: the whole frame only unless "small faces" is on (tiles cost ~3x); still images: the
  // detector's defaults (tiles on).
  const dets: Detection[] = await detector!.detect(img, state.source === 'camera' ? { tiles: tilesBox.checked } : {});
  const t1 = performance.now();
  const faces: Face[] = dets.map((d) => ({ box: d.box, score: d.score }));
  const crops = new Map<string, Float32Array>();
  if (dets.length > 0) {
    await Promise.all(
      classifiers.map(async (c) => {
        // The pipeline's crop rule: square box grown by the model's margin in BlazeFace's framing, eyes levelled.
        const faceCrops = dets.map((d) => faceCrop(d, c.margin, true, DETECTOR_FRAMING.blazeface.shift));
        const batch = preprocessBatch(img, faceCrops, { inputSize: c.inputSize, channels: c.channels });
        crops.set(c.role, batch);
        const n = dets.length;
        const k = c.labels.length;
        const input = c.flip ? withMirrors(batch, n, c.inputSize, c.channels) : batch;
        const y = tf.tidy(() => c.model.predict(tf.tensor4d(input, [c.flip ? 2 * n : n, c.inputSize, c.inputSize, c.channels])) as tf.Tensor);
        const raw = (await y.data()) as Float32Array;
        y.dispose();
        const probs = c.flip ? averageMirrors(raw, n, k) : raw;
        faces.forEach((f, i) => {
          const scores: Record<string, number> = {};
          let best = 0;
          c.labels.forEach((l, j) => {
            scores[l] = probs[i * k + j];
            if (probs[i * k + j] > probs[i * k + best]) best = j;
          });
          f[c.role] = { label: c.labels[best], scores };
        });
      }),
    );
  }
  state.timings.detect = t1 - t0;
  state.timings.classify = performance.now() - t1;
  return { faces, crops };
}

async function classifyOnServer(): Promise<Face[]> {
  const blob = await new Promise<Blob>((resolve, reject) => work.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode frame'))), 'image/jpeg', 0.85));
  const t0 = performance.now();
  const headers: Record<string, string> = { 'content-type': 'image/jpeg' };
  // A server started with --api-key: the key comes in the URL fragment (#key=...), never sent in URLs.
  const key = new URLSearchParams(location.hash.slice(1)).get('key');
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch('/v1/classify', { method: 'POST', body: blob, headers });
  const body = (await res.json()) as { faces?: Face[]; message?: string };
  if (!res.ok) throw new Error(body.message ?? `POST /v1/classify answered ${res.status}`);
  state.timings.detect = 0;
  state.timings.classify = performance.now() - t0;
  return body.faces ?? [];
}

/** Saliency maps of the emotion class for each face (crop-sized, values in [0, 1]). */
function saliencyFor(crops: Map<string, Float32Array>, n: number): Array<{ map: Float32Array; size: number }> {
  const c = classifiers.find((k) => k.role === 'emotion');
  const batch = crops.get('emotion');
  if (!c || !batch || n === 0) return [];
  const t0 = performance.now();
  const r = saliencyMaps(c.model, batch, { method: saliencyMethod.value as SaliencyMethod });
  state.timings.saliency = performance.now() - t0;
  return r.maps.map((map) => ({ map, size: c.inputSize }));
}

function draw(
  source: CanvasImageSource,
  width: number,
  height: number,
  faces: Face[],
  heat: Array<{ map: Float32Array; size: number }>,
): void {
  if (overlay.width !== width || overlay.height !== height) {
    overlay.width = width;
    overlay.height = height;
  }
  ctx.drawImage(source, 0, 0, width, height);
  const emotionMargin = classifiers.find((c) => c.role === 'emotion')?.margin ?? (1 / DETECTOR_FRAMING.blazeface.scale - 1) / 2;
  if (heat.length > 0) {
    // The same blending as `facecls video --saliency` (src/viz/overlay.ts), over each crop box.
    const frame = ctx.getImageData(0, 0, width, height);
    blendSaliency(
      { data: frame.data, width, height, channels: 4 },
      heat.map((h, i) => ({ box: squareBox(faces[i].box, emotionMargin, DETECTOR_FRAMING.blazeface.shift), map: h.map, size: h.size })),
    );
    ctx.putImageData(frame, 0, 0);
  }
  const unit = Math.max(10, Math.min(width, height) / 40);
  faces.forEach((f) => {
    const [x, y, w, h] = f.box;
    const colour = (f.emotion && EMOTION_COLOURS[f.emotion.label]) || '#00e5ff';
    ctx.lineWidth = Math.max(2, unit / 4);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const label = [f.emotion ? `${f.emotion.label} ${Math.round(f.emotion.scores[f.emotion.label] * 100)}%` : '', f.gender ? `${f.gender.label} ${Math.round(f.gender.scores[f.gender.label] * 100)}%` : '']
      .filter(Boolean)
      .join(' · ');
    ctx.font = `${Math.round(unit * 1.2)}px system-ui, sans-serif`;
    const tw = ctx.measureText(label).width + unit;
    const ty = y > unit * 1.8 ? y - unit * 1.6 : y + h;
    ctx.fillStyle = 'rgba(0,0,0,0.65)';
    ctx.fillRect(x, ty, tw, unit * 1.6);
    ctx.fillStyle = colour;
    ctx.fillText(label, x + unit / 2, ty + unit * 1.2);
    if (f.emotion) {
      // Probability bars beside the box.
      const entries = Object.entries(f.emotion.scores);
      const bh = Math.max(6, unit * 0.8);
      const bw = unit * 6;
      const bx = x + w + bw + unit * 5 < width ? x + w + unit / 2 : Math.max(0, x - bw - unit * 5);
      ctx.fillStyle = 'rgba(0,0,0,0.55)';
      ctx.fillRect(bx, y, bw + unit * 4.8, entries.length * (bh + 2) + 4);
      ctx.font = `${Math.round(bh)}px system-ui, sans-serif`;
      entries.forEach(([name, p], j) => {
        const by = y + 2 + j * (bh + 2);
        ctx.fillStyle = '#fff';
        ctx.fillText(name, bx + 3, by + bh - 1);
        ctx.fillStyle = EMOTION_COLOURS[name] ?? '#00e5ff';
        ctx.fillRect(bx + unit * 4.5, by, Math.max(1, p * bw), bh);
      });
    }
  });
}

function renderList(faces: Face[]): void {
  facesEl.replaceChildren(
    ...faces.map((f) => {
      const li = document.createElement('li');
      li.className = 'face';
      const label = document.createElement('div');
      label.className = 'label';
      label.textContent = [f.emotion?.label, f.gender?.label].filter(Boolean).join(' · ') + ` (face ${(f.score * 100).toFixed(0)}%)`;
      li.append(label);
      for (const [name, p] of Object.entries(f.emotion?.scores ?? {})) {
        const row = document.createElement('div');
        row.className = 'bar';
        row.innerHTML = `<span>${name}</span><span><i style="width:${(p * 100).toFixed(1)}%;background:${EMOTION_COLOURS[name] ?? '#00e5ff'}"></i></span><span>${(p * 100).toFixed(0)}%</span>`;
        li.append(row);
      }
      return li;
    }),
  );
}

const frameTimes: number[] = [];
function countFrame(): void {
  const now = performance.now();
  frameTimes.push(now);
  while (frameTimes.length > 2 && now - frameTimes[0] > 2000) frameTimes.shift();
  state.frames++;
  if (state.source === 'camera') {
    if (frameTimes.length >= 2) state.fps = ((frameTimes.length - 1) * 1000) / (now - frameTimes[0]);
    fpsEl.textContent = `${state.fps.toFixed(1)} fps`;
  } else {
    frameTimes.length = 0;
    fpsEl.textContent = `${state.timings.total.toFixed(0)} ms`;
  }
  const t = state.timings;
  timingEl.textContent =
    `${state.mode === 'server' ? 'server' : 'detect ' + t.detect.toFixed(1) + ' ms · classify'} ${t.classify.toFixed(1)} ms` +
    (saliencyBox.checked ? ` · saliency ${t.saliency.toFixed(1)} ms` : '') +
    ` · ${state.backend}${state.backend === 'wasm' ? (state.threads ? ' (threads)' : ' (1 thread)') : ''}`;
}

async function processFrame(source: CanvasImageSource, width: number, height: number): Promise<void> {
  const t0 = performance.now();
  const img = toRaw(source, width, height);
  let faces: Face[];
  let heat: Array<{ map: Float32Array; size: number }> = [];
  if (state.mode === 'server') faces = await classifyOnServer();
  else {
    const r = await classifyInBrowser(img);
    faces = r.faces;
    if (saliencyBox.checked && saliencyAvailable) heat = saliencyFor(r.crops, faces.length);
  }
  state.faces = faces;
  draw(source, width, height, faces, heat);
  renderList(faces);
  state.timings.total = performance.now() - t0;
  countFrame();
}

let stream: MediaStream | undefined;
let loopToken = 0;

async function startCamera(): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no camera access (needs https or localhost)');
  stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  video.srcObject = stream;
  await video.play();
  state.source = 'camera';
  cameraBtn.textContent = 'Stop camera';
  const token = ++loopToken;
  setStatus(`camera ${video.videoWidth}x${video.videoHeight} · ${state.mode === 'server' ? 'classifying on the server' : 'in-browser'} · ${state.backend}`);
  while (token === loopToken) {
    if (video.readyState >= 2 && video.videoWidth > 0) {
      try {
        await processFrame(video, video.videoWidth, video.videoHeight);
      } catch (err) {
        setStatus(`frame failed: ${(err as Error).message}`, true);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await new Promise((r) => requestAnimationFrame(() => r(undefined)));
  }
}

function stopCamera(): void {
  loopToken++;
  stream?.getTracks().forEach((t) => t.stop());
  stream = undefined;
  state.source = 'none';
  cameraBtn.textContent = 'Start camera';
}

async function showImage(file: File): Promise<void> {
  if (!file.type.startsWith('image/')) {
    setStatus(`"${file.name}" is not an image (${file.type || 'unknown type'})`, true);
    return;
  }
  stopCamera();
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    setStatus(`cannot decode "${file.name}"`, true);
    return;
  }
  const scale = Math.min(1, 1920 / Math.max(bitmap.width, bitmap.height));
  const w = Math.round(bitmap.width * scale);
  const h = Math.round(bitmap.height * scale);
  state.source = 'image';
  await processFrame(bitmap, w, h);
  setStatus(`${file.name}: ${state.faces.length} face(s) · ${state.timings.total.toFixed(0)} ms`);
}

function wireInputs(): void {
  cameraBtn.addEventListener('click', () => {
    if (stream) stopCamera();
    else startCamera().catch((err) => setStatus(`camera unavailable: ${(err as Error).message}. Drop an image instead.`, true));
  });
  stage.addEventListener('dragover', (e) => {
    e.preventDefault();
    stage.classList.add('dragging');
  });
  stage.addEventListener('dragleave', () => stage.classList.remove('dragging'));
  stage.addEventListener('drop', (e) => {
    e.preventDefault();
    stage.classList.remove('dragging');
    const file = e.dataTransfer?.files[0];
    if (file) void showImage(file);
  });
  $<HTMLInputElement>('file').addEventListener('change', (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) void showImage(file);
  });
}

async function main(): Promise<void> {
  wireInputs();
  state.mode = params.get('mode') === 'server' ? 'server' : 'browser';
  try {
    setStatus('starting tfjs…');
    await setupBackend();
    setStatus('loading models…');
    await loadModels();
  } catch (err) {
    setStatus(`cannot run the models in this browser (${(err as Error).message}); classifying on the server instead`, true);
    state.mode = 'server';
  }
  state.ready = true;
  if (params.get('camera') === 'off') {
    setStatus('ready: start the camera or drop an image');
    return;
  }
  try {
    await startCamera();
  } catch (err) {
    setStatus(`camera unavailable: ${(err as Error).message}. Drop an image instead.`, true);
  }
}

void main();
