/**
 * The peers the pipeline is measured against, run on tfjs wasm in this process from their npm
 * packages (devDependencies; weights ship in the packages, nothing is downloaded):
 *  - @vladmandic/face-api: TinyFaceDetector (416) + face expressions + age/gender;
 *  - @vladmandic/human: BlazeFace + emotion + description (age/gender).
 * Both load the CommonJS tfjs build (a second tfjs instance, separate from ours).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { projectRoot } from '../src/data/paths.js';
import type { Box, RawImage } from '../src/data/preprocess.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- the peers' bundles are untyped here */
const require = createRequire(import.meta.url);

export interface PeerFace {
  box: Box;
  score: number;
  /** The peer's age estimate in years (`full` only). */
  age?: number;
}

/** `{ age }` when the peer gave a numeric age, else nothing (detection-only faces keep their old shape). */
const ageField = (age: unknown): { age?: number } => (typeof age === 'number' && Number.isFinite(age) ? { age } : {});

export interface Peer {
  name: string;
  /** Detection only (for recall/precision). */
  detect(img: RawImage): Promise<PeerFace[]>;
  /** Detection + emotion + age/gender, as a user would run it (each face with its `age`). */
  full(img: RawImage): Promise<PeerFace[]>;
}

function nodeModules(...p: string[]): string {
  return path.join(projectRoot(), 'node_modules', ...p);
}

let tfCjs: any;
/** The CommonJS tfjs the peers use, on wasm, with a file:// model loader (fetch cannot read files). */
async function cjsTf(): Promise<any> {
  if (tfCjs) return tfCjs;
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(nodeModules('@tensorflow', 'tfjs-backend-wasm', 'dist') + '/');
  tf.io.registerLoadRouter((url: string) => {
    if (typeof url !== 'string' || !url.startsWith('file://')) return null;
    const file = url.slice('file://'.length);
    return {
      load: async () => {
        const json = JSON.parse(fs.readFileSync(file, 'utf8'));
        const specs = json.weightsManifest.flatMap((g: any) => g.weights);
        const bufs = json.weightsManifest.flatMap((g: any) => g.paths.map((p: string) => fs.readFileSync(path.join(path.dirname(file), p))));
        const all = Buffer.concat(bufs);
        return { ...json, weightSpecs: specs, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) };
      },
    };
  });
  await tf.setBackend('wasm');
  await tf.ready();
  tfCjs = tf;
  return tf;
}

function toTensor(tf: any, img: RawImage): any {
  if (img.channels === 3) return tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < img.width * img.height; i++, j += img.channels) {
    rgb[i * 3] = img.data[j];
    rgb[i * 3 + 1] = img.data[img.channels === 1 ? j : j + 1];
    rgb[i * 3 + 2] = img.data[img.channels === 1 ? j : j + 2];
  }
  return tf.tensor3d(rgb, [img.height, img.width, 3], 'int32');
}

export async function loadFaceApi(): Promise<Peer> {
  const tf = await cjsTf();
  const faceapi = require(nodeModules('@vladmandic', 'face-api', 'dist', 'face-api.node-wasm.js'));
  const dir = nodeModules('@vladmandic', 'face-api', 'model');
  await faceapi.nets.tinyFaceDetector.loadFromDisk(dir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(dir);
  await faceapi.nets.ageGenderNet.loadFromDisk(dir);
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const box = (d: any): PeerFace => {
    const det = d.detection ?? d;
    return { box: [det.box.x, det.box.y, det.box.width, det.box.height], score: det.score, ...ageField(d.age) };
  };
  return {
    name: 'face-api',
    async detect(img) {
      const t = toTensor(tf, img);
      try {
        return (await faceapi.detectAllFaces(t, options)).map(box);
      } finally {
        t.dispose();
      }
    },
    async full(img) {
      const t = toTensor(tf, img);
      try {
        return (await faceapi.detectAllFaces(t, options).withFaceExpressions().withAgeAndGender()).map(box);
      } finally {
        t.dispose();
      }
    },
  };
}

/** Human's settings shared by every use here: wasm backend, local models, no caching, only the face module. */
function humanBase() {
  return {
    backend: 'wasm',
    wasmPath: nodeModules('@tensorflow', 'tfjs-backend-wasm', 'dist') + '/',
    modelBasePath: 'file://' + nodeModules('@vladmandic', 'human', 'models') + '/',
    debug: false,
    async: true,
    cacheSensitivity: 0,
    filter: { enabled: false },
    gesture: { enabled: false },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    segmentation: { enabled: false },
  };
}

/** Human's face-module parts this comparison never uses (mesh, iris, attention, anti-spoofing, liveness). */
const FACE_EXTRAS_OFF = {
  mesh: { enabled: false },
  iris: { enabled: false },
  attention: { enabled: false },
  antispoof: { enabled: false },
  liveness: { enabled: false },
};

/** The faces a loaded Human instance finds in an image (boxes, detector scores and, with description on, age). */
function humanFaces(tf: any, human: any): (img: RawImage) => Promise<PeerFace[]> {
  return async (img) => {
    const t = toTensor(tf, img);
    try {
      const res = await human.detect(t);
      if (res.error) throw new Error(`human: ${res.error}`);
      return res.face.map((f: any) => ({ box: f.box as Box, score: f.boxScore ?? f.score, ...ageField(f.age) }));
    } finally {
      t.dispose();
    }
  };
}

export async function loadHuman(): Promise<Peer> {
  const tf = await cjsTf();
  const H = require(nodeModules('@vladmandic', 'human', 'dist', 'human.node-wasm.js'));
  const base = humanBase();
  const face = (full: boolean) => ({
    enabled: true,
    // No frame-to-frame caching (every frame is new); detection-only boxes unscaled (human enlarges them 1.4x for its mesh).
    detector: { rotation: false, maxDetected: 20, minConfidence: 0.2, return: false, skipFrames: 0, skipTime: 0, scale: full ? 1.4 : 1 },
    ...FACE_EXTRAS_OFF,
    emotion: { enabled: full, skipFrames: 0, skipTime: 0 },
    description: { enabled: full, skipFrames: 0, skipTime: 0 },
  });
  const detector = new H.Human({ ...base, face: face(false) });
  const fullHuman = new H.Human({ ...base, face: face(true) });
  await detector.load();
  await fullHuman.load();
  return { name: 'human', detect: humanFaces(tf, detector), full: humanFaces(tf, fullHuman) };
}

/**
 * Human's BlazeFace alone (detection only: no mesh, no classifiers), its own pre- and post-processing
 * (bilinear stretch to 256x256, hard NMS, boxes squared on the larger side), with a configurable
 * score floor, NMS IoU and box scale (human's default scale 1.4 enlarges boxes for its mesh; 1 keeps
 * the detector's box).
 */
export async function loadHumanBlazeFace(
  opts: { minConfidence?: number; iouThreshold?: number; maxDetected?: number; scale?: number } = {},
): Promise<(img: RawImage) => Promise<PeerFace[]>> {
  const tf = await cjsTf();
  const H = require(nodeModules('@vladmandic', 'human', 'dist', 'human.node-wasm.js'));
  const human = new H.Human({
    ...humanBase(),
    face: {
      enabled: true,
      detector: {
        rotation: false,
        maxDetected: opts.maxDetected ?? 200,
        minConfidence: opts.minConfidence ?? 0.2,
        iouThreshold: opts.iouThreshold ?? 0.1,
        return: false,
        skipFrames: 0,
        skipTime: 0,
        scale: opts.scale ?? 1,
      },
      ...FACE_EXTRAS_OFF,
      emotion: { enabled: false },
      description: { enabled: false },
    },
  });
  await human.load();
  return humanFaces(tf, human);
}
