/**
 * `facecls bench pipeline`: per 640x480 frame, median and p95 milliseconds of the whole pipeline
 * (decode JPEG -> detect -> emotion + gender + age for all faces, age when an age model is present), split by stage, with 1 face and with 3
 * faces; the same frames through @vladmandic/face-api and @vladmandic/human on tfjs wasm in this
 * process, with ratios; and detection recall (IoU >= 0.5), precision and false positives of every
 * detector on a labelled set composed at run time from UTKFace chips pasted on generated
 * backgrounds (never stored). Needs the UTKFace folder (datasetPath('utkface')).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { datasetPath, projectRoot } from '../src/data/paths.js';
import { decodeImage } from '../src/data/decode.js';
import type { Box, RawImage } from '../src/data/preprocess.js';
import { BLAZEFACE_DEFAULTS, BlazeFaceDetector } from '../src/detect/blazeface.js';
import { HaarDetector } from '../src/detect/haar.js';
import { addStats, composeFrame, EMPTY_STATS, listUtkFaces, matchDetections, type LabelledFrame, type MatchStats } from '../src/detect/labelled-set.js';
import type { Detection } from '../src/detect/types.js';
import { setupBackend } from '../src/engine/backend.js';
import { UserError } from '../src/errors.js';
import { buildModel } from '../src/framework/zoo.js';
import { median, percentile } from '../src/framework/model-bench.js';
import { EMOTION_LABELS, GENDER_LABELS, saveModel } from '../src/io/model-store.js';
import { defaultModelDir, FaceClassifier } from '../src/pipeline/face-classifier.js';
import { runDetectionEval } from '../src/eval/detect-eval.js';
import { machineFacts } from './args.js';
import { loadFaceApi, loadHuman, loadHumanBlazeFace, type Peer } from './peers.js';

export interface PipelineBenchOptions {
  /** Timed frames per scenario (distinct composed frames). Default 40. */
  frames?: number;
  /** Untimed warm-up frames. Default 5. */
  warmup?: number;
  /** Frames of the labelled detection set (1-4 faces each). Default 150. */
  recallFrames?: number;
  /** Run the peers. Default true. */
  peers?: boolean;
  detector?: 'blazeface' | 'haar';
  /** Photos of widerface-dev500 for the real-photo detection figures (evenly spaced; 0 skips). Default 100. */
  widerImages?: number;
  emotionModel?: string;
  genderModel?: string;
  /** Age model: default models/age when shipped; false leaves age out (emotion + gender only). */
  ageModel?: string | false;
  runtime?: string;
  backend?: string;
  log?: (line: string) => void;
}

export interface SpeedRow {
  system: string;
  faces: number;
  frames: number;
  medianMs: number;
  p95Ms: number;
  framesPerSecond: number;
  decodeMs?: number;
  detectMs?: number;
  classifyMs?: number;
  /** Median of this system / median of facecls on the same frames. */
  vsFacecls?: number;
}

export interface DetectionRow {
  detector: string;
  truth: number;
  detected: number;
  truePositives: number;
  falsePositives: number;
  recall: number;
  precision: number;
  meanIou: number;
  medianMs: number;
}

/** Detection on real photos (widerface-dev500): AP at IoU 0.5 per subset, precision/recall at the threshold, ms per photo. */
export interface RealPhotoRow {
  detector: string;
  images: number;
  ap: Record<string, number>;
  threshold: number;
  /** Precision and recall at the threshold on each subset. */
  atThreshold: Record<string, { precision: number; recall: number }>;
  msPerImage: number;
}

export interface PipelineBenchResult {
  machine: ReturnType<typeof machineFacts>;
  /** `age` is absent when the frames ran without an age model. */
  models: { emotion: string; gender: string; age?: string; note?: string; runtime: string; detector: string; detectorEngine?: string };
  speed: SpeedRow[];
  detection: DetectionRow[];
  /** Real photos (absent when widerface-dev500 is missing or --wider-images 0). */
  realPhotos?: { data: string; rows: RealPhotoRow[]; note?: string };
  targets: {
    fps40: { measured: number; met: boolean };
    faceApi3x: { measured: number | null; met: boolean | null };
    detectorVsBlazeFace: { met: boolean | null; note: string };
  };
}

/** The age model of the run: the one named, else the shipped one when present; none with ageModel false. */
function ageDir(opts: PipelineBenchOptions): string | undefined {
  if (opts.ageModel === false) return undefined;
  const dir = opts.ageModel ?? defaultModelDir('age');
  if (fs.existsSync(path.join(dir, 'model.json'))) return dir;
  if (opts.ageModel !== undefined) throw new UserError(`model not found: ${dir}`);
  return undefined;
}

/** Emotion + gender model directories: the shipped ones, else untrained stand-ins of the paper's size. */
async function modelDirs(opts: PipelineBenchOptions): Promise<{ emotion: string; gender: string; note?: string }> {
  const emotion = opts.emotionModel ?? defaultModelDir('emotion');
  const gender = opts.genderModel ?? defaultModelDir('gender');
  const present = (d: string) => fs.existsSync(path.join(d, 'model.json'));
  if (present(emotion) && present(gender)) return { emotion, gender };
  if (opts.emotionModel || opts.genderModel) throw new UserError(`model not found: ${[emotion, gender].filter((d) => !present(d)).join(', ')}`);
  await setupBackend(opts.backend);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facecls-bench-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const make = async (task: 'emotion' | 'gender', labels: readonly string[]) => {
    const m = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: labels.length });
    await saveModel(m, path.join(dir, task), {
      task,
      labels: [...labels],
      arch: 'mini-xception',
      inputSize: 64,
      channels: 1,
      preprocessing: { colorSpace: 'grey', range: [-1, 1] },
    });
    m.dispose();
    return path.join(dir, task);
  };
  return {
    emotion: await make('emotion', EMOTION_LABELS),
    gender: await make('gender', GENDER_LABELS),
    note: "no trained models in models/: untrained mini-Xception 64x64x1 stand-ins (the paper's released size; same compute, meaningless labels)",
  };
}

async function jpeg(img: RawImage): Promise<Buffer> {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  })
    .jpeg({ quality: 90 })
    .toBuffer();
}

function summarise(system: string, faces: number, totals: number[], stages?: { decode: number[]; detect: number[]; classify: number[] }): SpeedRow {
  const med = median(totals);
  return {
    system,
    faces,
    frames: totals.length,
    medianMs: med,
    p95Ms: percentile(totals, 95),
    framesPerSecond: 1000 / med,
    decodeMs: stages ? median(stages.decode) : undefined,
    detectMs: stages ? median(stages.detect) : undefined,
    classifyMs: stages ? median(stages.classify) : undefined,
  };
}

function detectionRow(name: string, s: MatchStats, ms: number[]): DetectionRow {
  return {
    detector: name,
    truth: s.truth,
    detected: s.detected,
    truePositives: s.truePositives,
    falsePositives: s.falsePositives,
    recall: s.truth ? s.truePositives / s.truth : 0,
    precision: s.detected ? s.truePositives / s.detected : 1,
    meanIou: s.ious.length ? s.ious.reduce((a, b) => a + b, 0) / s.ious.length : 0,
    medianMs: median(ms),
  };
}

/** Time the pipeline on every frame (the first `warmup` untimed): the system's row, split by stage. */
async function timePipeline(label: string, fc: FaceClassifier, frames: Buffer[], faces: number, warmup: number): Promise<SpeedRow> {
  const totals: number[] = [];
  const st = { decode: [] as number[], detect: [] as number[], classify: [] as number[] };
  for (let i = 0; i < frames.length; i++) {
    const t0 = performance.now();
    const r = await fc.classifyTimed(frames[i]);
    const t = performance.now() - t0;
    if (i < warmup) continue;
    totals.push(t);
    st.decode.push(r.times.decode);
    st.detect.push(r.times.detect);
    st.classify.push(r.times.classify);
  }
  return summarise(label, faces, totals, st);
}

/** Time a peer's whole pipeline (decode included) on every frame (the first `warmup` untimed). */
async function timePeer(p: Peer, frames: Buffer[], faces: number, warmup: number): Promise<SpeedRow> {
  const pt: number[] = [];
  for (let i = 0; i < frames.length; i++) {
    const t0 = performance.now();
    const img = await decodeImage(frames[i]);
    await p.full(img);
    const t = performance.now() - t0;
    if (i >= warmup) pt.push(t);
  }
  return summarise(p.name, faces, pt);
}

/** Speed rows with 1 and 3 faces per frame: facecls, its tiles variants and the peers, on the same frames. */
async function speedRows(
  chips: string[],
  fc: FaceClassifier,
  variants: Array<[string, FaceClassifier]>,
  peers: Peer[],
  nFrames: number,
  warmup: number,
  log: (l: string) => void,
): Promise<SpeedRow[]> {
  const speed: SpeedRow[] = [];
  for (const faces of [1, 3]) {
    log(`speed: composing ${nFrames + warmup} frames with ${faces} face(s) ...`);
    const frames: Buffer[] = [];
    for (let i = 0; i < nFrames + warmup; i++)
      frames.push(await jpeg((await composeFrame(chips, { faces, seed: 5000 * faces + i, minSide: 80, maxSide: 200 })).image));
    const ours = await timePipeline('facecls', fc, frames, faces, warmup);
    speed.push(ours);
    const others: SpeedRow[] = [];
    for (const [label, other] of variants) others.push(await timePipeline(label, other, frames, faces, warmup));
    for (const p of peers) {
      log(`speed: ${p.name}, ${faces} face(s) ...`);
      others.push(await timePeer(p, frames, faces, warmup));
    }
    for (const row of others) speed.push({ ...row, vsFacecls: row.medianMs / ours.medianMs });
  }
  return speed;
}

/**
 * Detection quality on a labelled set: 1-4 faces per frame, sides 40-220 px. Seeds 200000+ (the
 * detector defaults were tuned on seeds 90000-90149, a different set).
 */
async function detectionRows(chips: string[], nRecall: number, peers: Peer[], log: (l: string) => void): Promise<DetectionRow[]> {
  log(`detection: composing ${nRecall} labelled frames ...`);
  const labelled: LabelledFrame[] = [];
  for (let i = 0; i < nRecall; i++) labelled.push(await composeFrame(chips, { faces: 1 + (i % 4), seed: 200_000 + i, minSide: 40, maxSide: 220 }));
  const detectors: Array<{ name: string; detect: (img: RawImage) => Promise<Detection[]>; dispose?: () => void }> = [];
  const bf = await BlazeFaceDetector.load();
  const haar = await HaarDetector.load();
  detectors.push({ name: `facecls blazeface (${bf.engine}, default)`, detect: (img) => bf.detect(img) });
  detectors.push({ name: 'facecls blazeface --tiles always', detect: (img) => bf.detect(img, { tiles: true }) });
  detectors.push({ name: 'facecls blazeface --tiles off', detect: (img) => bf.detect(img, { tiles: false }), dispose: () => bf.dispose() });
  detectors.push({ name: 'facecls haar (paper, 1.3/5)', detect: (img) => haar.detect(img), dispose: () => haar.dispose() });
  for (const p of peers) detectors.push({ name: p.name === 'human' ? 'human blazeface' : 'face-api tiny 416', detect: (img) => p.detect(img) });
  const detection: DetectionRow[] = [];
  for (const d of detectors) {
    log(`detection: ${d.name} ...`);
    let stats = EMPTY_STATS;
    const ms: number[] = [];
    for (const f of labelled) {
      const t0 = performance.now();
      const dets = await d.detect(f.image);
      ms.push(performance.now() - t0);
      stats = addStats(stats, matchDetections(f.faces, dets, 0.5));
    }
    detection.push(detectionRow(d.name, stats, ms));
    d.dispose?.();
  }
  return detection;
}

function pipelineTargets(speed: SpeedRow[], detection: DetectionRow[]): PipelineBenchResult['targets'] {
  const one = speed.find((r) => r.system === 'facecls' && r.faces === 1)!;
  const faceApi1 = speed.find((r) => r.system === 'face-api' && r.faces === 1);
  const ours = detection[0];
  const human = detection.find((r) => r.detector === 'human blazeface');
  return {
    fps40: { measured: one.framesPerSecond, met: one.framesPerSecond >= 40 },
    faceApi3x: { measured: faceApi1?.vsFacecls ?? null, met: faceApi1 ? (faceApi1.vsFacecls ?? 0) >= 3 : null },
    detectorVsBlazeFace: human
      ? {
          met: ours.recall >= human.recall && ours.precision >= human.precision,
          note: `recall ${ours.recall.toFixed(3)} vs ${human.recall.toFixed(3)}, precision ${ours.precision.toFixed(3)} vs ${human.precision.toFixed(3)}`,
        }
      : { met: null, note: 'peers not run' },
  };
}

export async function runPipelineBench(opts: PipelineBenchOptions = {}): Promise<PipelineBenchResult> {
  const log = opts.log ?? (() => {});
  const utk = datasetPath('utkface');
  if (!fs.existsSync(utk)) throw new UserError(`bench pipeline composes its frames from UTKFace faces: not found at ${utk} (set FACECLS_DATASETS)`);
  const chips = listUtkFaces(utk);
  const models = { ...(await modelDirs(opts)), age: ageDir(opts) };
  const fc = await FaceClassifier.load({
    emotionModel: models.emotion,
    genderModel: models.gender,
    ...(models.age ? { ageModel: models.age } : { age: false }),
    detector: opts.detector ?? 'blazeface',
    runtime: opts.runtime,
    backend: opts.backend,
  });
  // The same pipeline with the detector's tiles always on / off, for the trade-off.
  const variants: Array<[string, FaceClassifier]> = [];
  if ((opts.detector ?? 'blazeface') === 'blazeface') {
    for (const [label, tiles] of [
      ['facecls --tiles always', true],
      ['facecls --tiles off', false],
    ] as const) {
      variants.push([
        label,
        await FaceClassifier.load({
          emotionModel: models.emotion,
          genderModel: models.gender,
          ...(models.age ? { ageModel: models.age } : { age: false }),
          detector: fc.detector,
          runtime: opts.runtime,
          backend: opts.backend,
          tiles,
        }),
      ]);
    }
  }
  const peers: Peer[] = [];
  if (opts.peers !== false) {
    log('loading peers (face-api, human) ...');
    peers.push(await loadFaceApi(), await loadHuman());
  }
  const speed = await speedRows(chips, fc, variants, peers, opts.frames ?? 40, opts.warmup ?? 5, log);
  const detection = await detectionRows(chips, opts.recallFrames ?? 150, peers, log);
  const realPhotos = await realPhotoRows(opts, peers.length > 0, log);
  await fc.dispose();
  for (const [, v] of variants) await v.dispose();
  return {
    machine: machineFacts(),
    models: {
      ...models,
      runtime: fc.emotion?.name ?? '-',
      detector: fc.detector.name,
      detectorEngine: fc.detector instanceof BlazeFaceDetector ? fc.detector.engine : undefined,
    },
    speed,
    detection,
    ...(realPhotos ? { realPhotos } : {}),
    targets: pipelineTargets(speed, detection),
  };
}

/**
 * Every BlazeFace tiles option (and human's BlazeFace with the peers) on evenly spaced photos of
 * widerface-dev500 (`facecls eval detect` on all 500 gives the full figures).
 */
async function realPhotoRows(opts: PipelineBenchOptions, peers: boolean, log: (l: string) => void): Promise<PipelineBenchResult['realPhotos']> {
  const n = opts.widerImages ?? 100;
  const data = datasetPath('widerface-dev500');
  if (n === 0) return undefined;
  if (!fs.existsSync(data)) return { data, rows: [], note: `widerface-dev500 not found at ${data}: real-photo figures skipped` };
  const bf = await BlazeFaceDetector.load();
  const threshold = BLAZEFACE_DEFAULTS.scoreThreshold;
  const options: Array<[string, (img: RawImage) => Promise<Array<{ box: Box; score: number }>>]> = [];
  for (const [label, tiles] of [
    ['auto (default)', 'auto'],
    ['always', true],
    ['dense', 'dense'],
    ['off', false],
  ] as const) {
    options.push([`facecls blazeface --tiles ${label}`, (img) => bf.detect(img, { tiles, minScore: 0.05 })]);
  }
  if (peers) options.push(["human blazeface (scale 1, human's NMS)", await loadHumanBlazeFace({ minConfidence: 0.05 })]);
  const rows: RealPhotoRow[] = [];
  try {
    for (const [name, detect] of options) {
      log(`real photos: ${name} on ${n} widerface-dev500 photos ...`);
      const r = await runDetectionEval({ data, detector: name, detect, threshold, limit: n });
      rows.push({
        detector: name,
        images: r.images,
        ap: Object.fromEntries(r.subsets.map((x) => [x.subset, x.ap])),
        threshold,
        atThreshold: Object.fromEntries(r.subsets.map((x) => [x.subset, { precision: x.atThreshold.precision, recall: x.atThreshold.recall }])),
        msPerImage: r.msPerImage.mean,
      });
    }
  } finally {
    bf.dispose();
  }
  return { data, rows };
}

export function projectRelative(p: string): string {
  const rel = path.relative(projectRoot(), p);
  return rel.startsWith('..') ? p : rel;
}
