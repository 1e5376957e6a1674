/**
 * Scoring a split with a model ensemble: images are decoded (and optionally re-cut and searched for a
 * face) one batch ahead of inference, framed per model, and every model's probabilities of every TTA
 * view averaged into one prediction per image.
 */
import type { Sample, Skipped } from '../data/dataset.js';
import { decodeImage } from '../data/decode.js';
import { faceCrop, preprocessFace, type RawImage } from '../data/preprocess.js';
import { cropBoxFor } from '../data/store.js';
import { expectedAge } from '../data/age.js';
import type { Detection, Detector } from '../detect/index.js';
import { locateFaceInCrop } from '../pipeline/crop-framing.js';
import { detectorMargin } from '../pipeline/face-classifier.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { DEFAULT_RECUT, recutCrop } from './recut.js';
import { argmaxRow, Confusion } from './metrics.js';

/** A decoded image ready for framing: the (possibly re-cut) pixels, its sample, and the face found in it. */
interface Framed {
  img: RawImage;
  sample: Sample;
  face?: Detection;
}

export interface ScoringOptions {
  runtimes: InferenceRuntime[];
  /** Crop margin per runtime. */
  margins: number[];
  /** TTA views per image: 1, or 2 (the image and its mirror). */
  copies: 1 | 2;
  batchSize: number;
  /** Frame each image around the face this finds in it (the whole image when it finds none). */
  detector?: Detector;
  align?: boolean;
  recutSeed?: number;
  recutRotation?: number;
  keepProbabilities?: boolean;
  /** Age models: the centre age of each class, to predict each face's expected age. */
  ageCentres?: readonly number[];
  onProgress?: (done: number, total: number) => void;
}

export interface Scored {
  confusion: Confusion;
  /** The samples that were read and classified, and whether each was classified correctly. */
  kept: Sample[];
  correct: boolean[];
  /** The samples whose image could not be read, with why. */
  skipped: Skipped[];
  /** With ageCentres: the predicted age of each kept sample. */
  predictedAges: number[];
  /** With keepProbabilities: per batch, [sample][view][class] averaged over the models. */
  probabilities: Float32Array[];
  /** With a detector: how many images had a face found in them. */
  located: number;
}

/** Decodes (and re-cuts, and looks for the face in) samples; unreadable ones go to `skipped`. */
function framer(samples: Sample[], o: ScoringOptions, skipped: Skipped[]): (s: Sample) => Promise<Framed | undefined> {
  const grey = !o.runtimes.some((r) => r.meta.channels === 3);
  const index = new Map(samples.map((s, i) => [s, i]));
  let detecting: Promise<unknown> = Promise.resolve();
  return async (s) => {
    try {
      let img = s.pixels ?? (await decodeImage(s.file!, { grey }));
      let sample = s;
      if (o.recutSeed !== undefined) {
        img = recutCrop(img, o.recutSeed, index.get(s)!, { ...DEFAULT_RECUT, rotation: o.recutRotation ?? 0 });
        sample = { ...s, box: undefined };
      }
      // One detection at a time: a detector reuses its input buffers (decoding runs concurrently).
      const detector = o.detector;
      const found = detector ? detecting.then(() => locateFaceInCrop(detector, img)) : undefined;
      if (found) detecting = found.catch(() => undefined);
      return { img, sample, face: await found };
    } catch (err) {
      skipped.push({ id: s.id, reason: (err as Error).message });
      return undefined;
    }
  };
}

/** The input of runtime `ri` for a batch: every image, then (with flip TTA) every mirror. */
function batchInput(good: Framed[], o: ScoringOptions, ri: number): Float32Array {
  const { inputSize } = o.runtimes[ri].meta;
  const channels = o.runtimes[ri].meta.channels as 1 | 3;
  const per = inputSize * inputSize * channels;
  const m = good.length;
  const x = new Float32Array(m * o.copies * per);
  good.forEach(({ img, sample, face }, j) => {
    const crop = face ? faceCrop(face, detectorMargin(o.detector!.name, o.margins[ri]), Boolean(o.align)) : { box: cropBoxFor(sample, img, o.margins[ri]) };
    preprocessFace(img, { inputSize, channels, ...crop }, x, j * per);
    if (o.copies === 2) preprocessFace(img, { inputSize, channels, ...crop, flip: true }, x, (m + j) * per);
  });
  return x;
}

/** Class probabilities of a batch averaged over models and views, and (with keepProbabilities) per view. */
async function ensembleProbabilities(good: Framed[], o: ScoringOptions, k: number): Promise<{ avg: Float32Array; views?: Float32Array }> {
  const m = good.length;
  const { copies } = o;
  const n = o.runtimes.length;
  const avg = new Float32Array(m * k);
  const views = o.keepProbabilities ? new Float32Array(m * copies * k) : undefined;
  for (let ri = 0; ri < n; ri++) {
    const probs = await o.runtimes[ri].run(batchInput(good, o, ri), m * copies);
    for (let c = 0; c < copies; c++) for (let i = 0; i < m * k; i++) avg[i] += probs[c * m * k + i] / (copies * n);
    // views: [sample][view][class]; probs: [view][sample][class].
    if (views)
      for (let j = 0; j < m; j++)
        for (let c = 0; c < copies; c++) for (let q = 0; q < k; q++) views[(j * copies + c) * k + q] += probs[(c * m + j) * k + q] / n;
  }
  return { avg, views };
}

/** Classifies every sample, decoding the next batch while the models run on this one. */
export async function scoreSamples(samples: Sample[], labels: readonly string[], o: ScoringOptions): Promise<Scored> {
  const k = labels.length;
  const out: Scored = { confusion: new Confusion([...labels]), kept: [], correct: [], skipped: [], predictedAges: [], probabilities: [], located: 0 };
  const frame = framer(samples, o, out.skipped);
  const decodeBatch = (start: number) => Promise.all(samples.slice(start, start + o.batchSize).map(frame));
  let next = samples.length ? decodeBatch(0) : undefined;
  for (let start = 0; start < samples.length; start += o.batchSize) {
    const batch = samples.slice(start, start + o.batchSize);
    const framed = await next!;
    next = start + o.batchSize < samples.length ? decodeBatch(start + o.batchSize) : undefined;
    // The original sample (not its re-cut copy) is what the report lists.
    const good = batch.flatMap((sample, j) => (framed[j] ? [{ sample, frame: framed[j] }] : []));
    out.located += good.filter((g) => g.frame.face).length;
    if (good.length > 0) {
      const { avg, views } = await ensembleProbabilities(
        good.map((g) => g.frame),
        o,
        k,
      );
      if (views) out.probabilities.push(views);
      good.forEach(({ sample }, j) => {
        const pred = argmaxRow(avg, j, k);
        out.confusion.add(sample.label, pred);
        out.kept.push(sample);
        out.correct.push(pred === sample.label);
        if (o.ageCentres) out.predictedAges.push(expectedAge(avg, o.ageCentres, j * k));
      });
    }
    o.onProgress?.(start + batch.length, samples.length);
  }
  return out;
}
