/**
 * facecls web page: live webcam (or dropped image) face detection with emotion, gender and age, entirely
 * in the browser, built on the browser package (src/browser, `facecls/browser`): detection,
 * classification (crop rule, preprocessing, TTA), saliency and drawing all come from there; this file
 * is the page's controls, camera loop and face list. tfjs runs on the wasm backend (binaries served at
 * /wasm/; threads when the page is cross-origin isolated) or webgl/cpu on request (?backend=webgl);
 * models come from the same server (GET /v1/models). ?mode=server sends frames to POST /v1/classify
 * instead (fallback when models cannot run in the browser).
 */
import {
  BrowserFaceClassifier,
  EMOTION_COLOURS,
  formatAge,
  imagePixels,
  METHOD_TITLES,
  renderFrame,
  SALIENCY_METHODS,
  type ClassifiedFaces,
  type ClassifierTask,
  type ExplainedFace,
  type FaceResult,
  type RawImage,
  type SaliencyMethod,
} from '../../src/browser/index.js';

/** The saliency overlay's task choices, as the page names them. */
const TASK_TITLES: Record<ClassifierTask, string> = { emotion: 'explain emotion', gender: 'explain gender', age: 'explain age' };

interface ModelEntry {
  role: string;
  format: string;
  url: string;
  meta?: { labels: string[]; inputSize: number; channels: number };
  info?: Record<string, unknown>;
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
  faces: [] as FaceResult[],
  /** Redraws of the shown frame without new classification (e.g. the saliency box ticked). */
  redraws: 0,
  timings: { detect: 0, classify: 0, saliency: 0, total: 0 },
  error: '',
};
(globalThis as unknown as { facecls: typeof state }).facecls = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const video = $<HTMLVideoElement>('video');
const overlay = $<HTMLCanvasElement>('overlay');
const statusEl = $('status');
const fpsEl = $('fps');
const cameraBtn = $<HTMLButtonElement>('camera');
const saliencyBox = $<HTMLInputElement>('saliency');
const tilesBox = $<HTMLInputElement>('tiles');
const saliencyMethod = $<HTMLSelectElement>('saliency-method');
const saliencyTask = $<HTMLSelectElement>('saliency-task');
const params = new URLSearchParams(location.search);

let fc: BrowserFaceClassifier | undefined;
/** The frame on screen, kept so that changing the saliency controls redraws it. */
let shown: { source: CanvasImageSource; img: RawImage; result: ClassifiedFaces } | undefined;

function setStatus(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', error);
  if (error) state.error = text;
}

async function loadModels(): Promise<void> {
  const res = await fetch('/v1/models');
  if (!res.ok) throw new Error(`GET /v1/models answered ${res.status}`);
  const info = (await res.json()) as { models: ModelEntry[] };
  $('models').textContent = info.models
    .map(
      (m) =>
        `${m.role}: ${m.meta ? `${m.meta.labels.join('/')} ${m.meta.inputSize}x${m.meta.inputSize}x${m.meta.channels}` : m.format} ${JSON.stringify(m.info ?? {})}`,
    )
    .join('\n');
  if (state.mode === 'server') return;
  const url = (role: string) => info.models.find((m) => m.role === role && (role === 'detector' || m.meta))?.url;
  const detectorModel = url('detector');
  if (!detectorModel) throw new Error('the server offers no detector model');
  fc = await BrowserFaceClassifier.load({
    baseUrl: `${location.origin}/`,
    emotionModel: url('emotion') ?? false,
    genderModel: url('gender') ?? false,
    ageModel: url('age') ?? false,
    detectorModel,
    backend: params.get('backend') ?? 'wasm',
    wasmPaths: '/wasm/',
  });
  state.backend = fc.backend.name;
  state.threads = fc.backend.threads;
  // Smoke test on a blank frame: fails fast (-> server mode) if the detector cannot run here.
  await fc.detect({ data: new Uint8ClampedArray(64 * 48 * 4), width: 64, height: 48, channels: 4 });
  // The overlay explains one of the loaded classifiers (emotion first, as its maps are the most telling).
  saliencyTask.replaceChildren(...fc.tasks.map((t) => Object.assign(document.createElement('option'), { value: t, textContent: TASK_TITLES[t] })));
  saliencyBox.disabled = saliencyTask.disabled = fc.tasks.length === 0;
}

async function classifyOnServer(img: RawImage): Promise<ClassifiedFaces> {
  const canvas = Object.assign(document.createElement('canvas'), { width: img.width, height: img.height });
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  const blob = await new Promise<Blob>((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode frame'))), 'image/jpeg', 0.85),
  );
  const t0 = performance.now();
  const headers: Record<string, string> = { 'content-type': 'image/jpeg' };
  // A server started with --api-key: the key comes in the URL fragment (#key=...), never sent in URLs.
  const key = new URLSearchParams(location.hash.slice(1)).get('key');
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch('/v1/classify', { method: 'POST', body: blob, headers });
  const body = (await res.json()) as { faces?: FaceResult[]; message?: string };
  if (!res.ok) throw new Error(body.message ?? `POST /v1/classify answered ${res.status}`);
  state.timings.detect = 0;
  state.timings.classify = performance.now() - t0;
  return { faces: body.faces ?? [], inputs: {} };
}

/** Saliency maps of the shown frame's faces when the overlay is on (the chosen classifier, on its crops). */
function shownMaps(img: RawImage, result: ClassifiedFaces): ExplainedFace[] {
  if (!saliencyBox.checked || !fc || result.faces.length === 0) return [];
  const t0 = performance.now();
  const maps = fc.explain(img, result, { method: saliencyMethod.value as SaliencyMethod, task: saliencyTask.value as ClassifierTask });
  state.timings.saliency = performance.now() - t0;
  return maps;
}

/** Draw the frame on screen (image, saliency maps when on, boxes, labels, bars: the package's drawing). */
function redraw(): void {
  if (!shown) return;
  const { source, img, result } = shown;
  renderFrame(overlay, source, img.width, img.height, result.faces, { maps: shownMaps(img, result) });
}

function renderList(faces: FaceResult[]): void {
  $('faces').replaceChildren(
    ...faces.map((f) => {
      const li = document.createElement('li');
      li.className = 'face';
      const label = document.createElement('div');
      label.className = 'label';
      const age = f.age ? `age ${formatAge(f.age)}` : undefined;
      label.textContent = [f.emotion?.label, f.gender?.label, age].filter(Boolean).join(' · ') + ` (face ${(f.score * 100).toFixed(0)}%)`;
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
  $('timing').textContent =
    `${state.mode === 'server' ? 'server' : 'detect ' + t.detect.toFixed(1) + ' ms · classify'} ${t.classify.toFixed(1)} ms` +
    (saliencyBox.checked ? ` · saliency ${t.saliency.toFixed(1)} ms` : '') +
    ` · ${state.backend}${state.backend === 'wasm' ? (state.threads ? ' (threads)' : ' (1 thread)') : ''}`;
}

async function processFrame(source: CanvasImageSource, width: number, height: number): Promise<void> {
  const t0 = performance.now();
  const img = imagePixels(source, width, height);
  let result: ClassifiedFaces;
  if (state.mode === 'server' || !fc) result = await classifyOnServer(img);
  else {
    // Live video: the whole frame only unless "small faces" is on (tiles cost ~3x); still images: the detector's defaults.
    const r = await fc.classify(img, state.source === 'camera' ? { tiles: tilesBox.checked } : {});
    Object.assign(state.timings, r.times);
    result = r;
  }
  shown = { source, img, result };
  state.faces = result.faces;
  redraw();
  renderList(result.faces);
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

/** Stop the camera; `quiet` when an image replaces it (its own status follows). */
function stopCamera(quiet = false): void {
  const wasOn = stream !== undefined;
  loopToken++;
  stream?.getTracks().forEach((t) => t.stop());
  stream = undefined;
  video.srcObject = null;
  cameraBtn.textContent = 'Start camera';
  if (!wasOn) return;
  state.source = 'none';
  if (!quiet) setStatus('camera stopped · start it again or drop an image');
}

async function showImage(file: File): Promise<void> {
  if (!file.type.startsWith('image/')) {
    setStatus(`"${file.name}" is not an image (${file.type || 'unknown type'})`, true);
    return;
  }
  stopCamera(true);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    setStatus(`cannot decode "${file.name}"`, true);
    return;
  }
  const scale = Math.min(1, 1920 / Math.max(bitmap.width, bitmap.height));
  state.source = 'image';
  await processFrame(bitmap, Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  setStatus(`${file.name}: ${state.faces.length} face(s) · ${state.timings.total.toFixed(0)} ms`);
}

function wireInputs(): void {
  saliencyMethod.replaceChildren(...SALIENCY_METHODS.map((m) => Object.assign(document.createElement('option'), { value: m, textContent: METHOD_TITLES[m] })));
  cameraBtn.addEventListener('click', () => {
    if (stream) stopCamera();
    else startCamera().catch((err) => setStatus(`camera unavailable: ${(err as Error).message}. Drop an image instead.`, true));
  });
  // The saliency controls redraw the frame on screen at once (a live camera redraws on its next frame anyway).
  for (const el of [saliencyBox, saliencyTask, saliencyMethod]) {
    el.addEventListener('change', () => {
      if (state.source === 'camera') return;
      redraw();
      state.redraws++;
    });
  }
  const stage = $('stage');
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
