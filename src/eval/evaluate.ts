/**
 * Evaluation of a classifier on a dataset split: accuracy, per-class precision / recall / F1,
 * confusion matrix, and (when samples carry age / gender / race, as UTKFace does) accuracy per
 * gender, age band and ethnic group. Every image goes through decodeImage + preprocessFace, the
 * same path as the pipeline; inference through an InferenceRuntime (onnx or tfjs).
 */
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-store.js';
import { createRuntime } from '../runtime/factory.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { DEFAULT_SPLIT, type Dataset, type DatasetFormat, type Sample, type Skipped, type SplitName } from '../data/dataset.js';
import { decodeImage } from '../data/decode.js';
import { loadDataset } from '../data/load.js';
import { faceCrop, preprocessFace, type RawImage } from '../data/preprocess.js';
import { cropBoxFor, DEFAULT_MAX_BAD_FRACTION } from '../data/store.js';
import { createDetector, type Detection, type Detector } from '../detect/index.js';
import { setupBackend } from '../engine/backend.js';
import { locateFaceInCrop, type CropFraming } from '../pipeline/crop-framing.js';
import { detectorMargin } from '../pipeline/face-classifier.js';
import { DEFAULT_RECUT, recutCrop } from './recut.js';
import { argmaxRow, Confusion, type Metrics } from './metrics.js';
import { ageMetrics, type AgeMetrics, type AgeRangeSpec } from './age-metrics.js';
import { expectedAge, sampleAge, type AgeCodec } from '../data/age.js';

export const ADULT_AGE = 18;

/** Age bands for per-group metrics: [min, max] inclusive. */
export const AGE_BANDS: ReadonlyArray<[number, number, string]> = [
  [0, 2, '0-2'],
  [3, 9, '3-9'],
  [10, 17, '10-17'],
  [18, 29, '18-29'],
  [30, 44, '30-44'],
  [45, 59, '45-59'],
  [60, 200, '60+'],
];

export function ageBand(age: number): string {
  return AGE_BANDS.find(([lo, hi]) => age >= lo && age <= hi)?.[2] ?? 'unknown';
}

export interface GroupRow {
  value: string;
  n: number;
  correct: number;
  accuracy: number;
}

export interface GroupMetrics {
  gender?: GroupRow[];
  ageBand?: GroupRow[];
  race?: GroupRow[];
}

export interface EvalReport {
  model: string;
  task: string;
  arch?: string;
  data: string;
  format: DatasetFormat;
  split: SplitName;
  splitMethod: string;
  tta: 'none' | 'flip';
  adultsOnly: boolean;
  runtime: string;
  cropMargin: number;
  /** How crops were framed ('whole' or 'detect') and, with 'detect', how many had a face found in them. */
  framing?: { mode: CropFraming; located?: number; align?: boolean; recutSeed?: number; recutRotation?: number };
  metrics: Metrics;
  groups: GroupMetrics;
  skipped: { count: number; examples: Skipped[] };
  /**
   * Entries of the whole dataset dropped while indexing it (malformed CSV rows, unparsable file
   * names), counted against --max-bad-fraction of all indexed entries like `facecls train` does.
   */
  malformed: { count: number; of: number; examples: Skipped[] };
  seconds: number;
  imagesPerSecond: number;
  /**
   * Age models: the expected age of each face against its true age (src/eval/age-metrics.ts); with
   * keepProbabilities also every sample's true and predicted age.
   */
  age?: AgeMetrics & { samples?: { truth: number[]; predicted: number[] } };
  /** With keepProbabilities: per sample, per view (the image, then its mirror with flip TTA), k probabilities. */
  probabilities?: { labels: number[]; views: number; values: Float32Array };
}

/** A decoded image ready for framing: the (possibly re-cut) pixels, its sample, and the face found in it. */
interface Framed {
  img: RawImage;
  sample: Sample;
  face?: Detection;
}

export interface EvaluateOptions {
  /**
   * Model folder or open runtime (not disposed by evaluate); several make an ensemble whose class
   * probabilities are averaged (each model gets its own input size, channels and crop margin).
   */
  model: string | InferenceRuntime | Array<string | InferenceRuntime>;
  /** Dataset path, or an already loaded Dataset. */
  data: string | Dataset;
  split: SplitName;
  format?: DatasetFormat;
  /**
   * Average the predictions of the image and its mirror. Default: flip when every model's metadata
   * says so (models shipped with --tta flip, which every runtime runs that way), else none.
   */
  tta?: 'none' | 'flip';
  /** Keep only samples with a known age >= 18. */
  adults?: boolean;
  /** Split parameters for datasets without an official split; default: those the model was trained with. */
  splitSeed?: number;
  valFraction?: number;
  testFraction?: number;
  /** Crop margin; default the model's (ModelMeta.cropMargin), else 0. */
  cropMargin?: number;
  batchSize?: number;
  runtime?: string;
  backend?: string;
  /** Fail when more than this fraction of the split's images are unreadable (default 0.05). */
  maxBadFraction?: number;
  /** Evaluate only N evenly spaced samples of the split (quick checks). */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
  /** Fail unless the model's task is this one (the CLI's positional task). */
  expectTask?: string;
  /** Return every sample's class probabilities per view (report.probabilities), e.g. for calibration. */
  keepProbabilities?: boolean;
  /**
   * How each image (a face crop) is framed for the model: 'whole' (default: the crop as the dataset
   * cuts it, as in training) or 'detect' (the face found in it by `detector` and framed by the
   * pipeline's crop rule, as `classify --crops` does; the whole crop when no face is found).
   */
  framing?: CropFraming;
  /** Detector for framing 'detect' (default: a BlazeFace loaded and disposed here). */
  detector?: Detector;
  /** Framing stress: re-cut every image with this seed first (src/eval/recut.ts). */
  recutSeed?: number;
  /** With recutSeed: tilt each re-cut face by up to this many degrees. */
  recutRotation?: number;
  /** With framing 'detect': level the eyes of each face found (the pipeline's --align). */
  align?: boolean;
}

function groupRows(map: Map<string, { n: number; correct: number }>, order?: readonly string[]): GroupRow[] {
  const keys = [...map.keys()].sort((a, b) => {
    const ia = order ? order.indexOf(a) : -1;
    const ib = order ? order.indexOf(b) : -1;
    return ia !== ib ? (ia < 0 ? 1 : ib < 0 ? -1 : ia - ib) : a < b ? -1 : a > b ? 1 : 0;
  });
  return keys.map((k) => {
    const g = map.get(k)!;
    return { value: k, n: g.n, correct: g.correct, accuracy: g.n ? g.correct / g.n : NaN };
  });
}

/** Per-group accuracy from samples (with meta) and whether each was classified correctly. */
export function groupMetrics(samples: Sample[], correct: boolean[]): GroupMetrics {
  const by = { gender: new Map<string, { n: number; correct: number }>(), ageBand: new Map(), race: new Map() } as Record<
    keyof GroupMetrics,
    Map<string, { n: number; correct: number }>
  >;
  const bump = (m: Map<string, { n: number; correct: number }>, k: string, ok: boolean) => {
    const g = m.get(k) ?? { n: 0, correct: 0 };
    g.n++;
    if (ok) g.correct++;
    m.set(k, g);
  };
  const hasRace = samples.some((s) => s.meta?.race !== undefined);
  const any = { gender: false, ageBand: false, race: hasRace };
  samples.forEach((s, i) => {
    const m = s.meta;
    if (!m) return;
    if (m.gender) {
      any.gender = true;
      bump(by.gender, m.gender, correct[i]);
    }
    if (m.age !== undefined) {
      any.ageBand = true;
      bump(by.ageBand, ageBand(m.age), correct[i]);
    }
    // UTKFace has three files without the race field: counted as 'unknown'.
    if (hasRace) bump(by.race, m.race ?? 'unknown', correct[i]);
  });
  const out: GroupMetrics = {};
  if (any.gender) out.gender = groupRows(by.gender, ['woman', 'man']);
  if (any.ageBand)
    out.ageBand = groupRows(
      by.ageBand,
      AGE_BANDS.map((b) => b[2]),
    );
  if (any.race) out.race = groupRows(by.race, ['white', 'black', 'asian', 'indian', 'others', 'unknown']);
  return out;
}

function ageReport(kept: Sample[], predicted: number[], range: AgeRangeSpec | undefined, keep: boolean): NonNullable<EvalReport['age']> {
  const truth = kept.map(sampleAge);
  return {
    ...ageMetrics(
      truth,
      predicted,
      kept.map((s) => s.meta),
      range,
    ),
    ...(keep ? { samples: { truth, predicted } } : {}),
  };
}

interface TrainingInfo {
  splitSeed?: number;
  valFraction?: number;
  testFraction?: number;
}

export async function evaluate(opts: EvaluateOptions): Promise<EvalReport> {
  const t0 = Date.now();
  const specs = Array.isArray(opts.model) ? opts.model : [opts.model];
  if (specs.length === 0) throw new UserError('no model to evaluate');
  const owned: InferenceRuntime[] = [];
  const runtimes: InferenceRuntime[] = [];
  const framing = opts.framing ?? 'whole';
  if (framing === 'detect' && !opts.detector) await setupBackend(opts.backend);
  const detector = framing === 'detect' ? (opts.detector ?? (await createDetector('blazeface'))) : undefined;
  const name = (m: string | InferenceRuntime) => (typeof m === 'string' ? m : '(runtime)');
  try {
    for (const m of specs) {
      // evaluate applies TTA itself (it keeps each view's probabilities for calibration).
      const r = typeof m === 'string' ? await createRuntime(m, { runtime: opts.runtime, backend: opts.backend, tta: 'none' }) : m;
      if (typeof m === 'string') owned.push(r);
      runtimes.push(r);
      if (r.tta !== 'none')
        throw new UserError(
          `evaluate applies test-time augmentation itself (tta option): pass runtimes created with tta 'none', not "${name(m)}" (tta ${r.tta})`,
        );
    }
    const meta: ModelMeta = runtimes[0].meta;
    runtimes.forEach((r, i) => {
      if (opts.expectTask !== undefined && r.meta.task !== opts.expectTask) {
        throw new UserError(`model "${name(specs[i])}" is a ${r.meta.task} model, not ${opts.expectTask}`);
      }
      if (r.meta.labels.join() !== meta.labels.join()) {
        throw new UserError(
          `ensemble members disagree on labels: "${name(specs[i])}" has ${r.meta.labels.join(', ')}, "${name(specs[0])}" has ${meta.labels.join(', ')}`,
        );
      }
    });
    // An ensemble's members share one split (ship checks it); the ensemble itself carries no training info.
    const members = (meta.ensemble as { members?: { training?: TrainingInfo }[] } | undefined)?.members;
    const info = (meta.training ?? members?.[0]?.training ?? {}) as TrainingInfo;
    const ds =
      typeof opts.data === 'string'
        ? await loadDataset(opts.data, {
            task: meta.task,
            format: opts.format,
            ...(meta.task === 'age' && meta.age ? { ageCodec: meta.age as AgeCodec } : {}),
            split: {
              seed: opts.splitSeed ?? info.splitSeed ?? DEFAULT_SPLIT.seed,
              val: opts.valFraction ?? info.valFraction ?? DEFAULT_SPLIT.val,
              test: opts.testFraction ?? info.testFraction ?? DEFAULT_SPLIT.test,
            },
          })
        : opts.data;
    const maxBad = opts.maxBadFraction ?? DEFAULT_MAX_BAD_FRACTION;
    const indexed = ds.splits.train.length + ds.splits.val.length + ds.splits.test.length + ds.skipped.length;
    if (ds.skipped.length > maxBad * indexed) {
      const ex = ds.skipped
        .slice(0, 3)
        .map((s) => `${s.id}: ${s.reason}`)
        .join('; ');
      throw new UserError(
        `${ds.skipped.length} of ${indexed} entries of "${ds.root}" are malformed (more than ${(maxBad * 100).toFixed(1)}%, see --max-bad-fraction): ${ex}`,
      );
    }
    if (ds.labels.join() !== meta.labels.join()) {
      throw new UserError(`model labels (${meta.labels.join(', ')}) differ from the dataset's (${ds.labels.join(', ')})`);
    }
    let samples = ds.splits[opts.split];
    if (opts.adults) {
      if (!samples.some((s) => s.meta?.age !== undefined)) throw new UserError(`--adults needs ages, and the ${ds.format} dataset "${ds.root}" records none`);
      samples = samples.filter((s) => s.meta?.age !== undefined && s.meta.age >= ADULT_AGE);
    }
    if (opts.limit !== undefined && opts.limit < samples.length) {
      // Evenly spaced, so a limited run still covers every class / stratum of the split.
      const all = samples;
      samples = Array.from({ length: opts.limit }, (_, i) => all[Math.floor((i * all.length) / opts.limit!)]);
    }
    if (samples.length === 0) throw new UserError(`the ${opts.split} split of "${ds.root}" has no samples${opts.adults ? ' of adults' : ''}`);
    const k = meta.labels.length;
    const margins = runtimes.map((r) => opts.cropMargin ?? r.meta.cropMargin ?? 0);
    const anyColour = runtimes.some((r) => r.meta.channels === 3);
    const tta = opts.tta ?? (runtimes.every((r) => r.meta.tta === 'flip') ? 'flip' : 'none');
    const copies = tta === 'flip' ? 2 : 1;
    const batchSize = opts.batchSize ?? 64;
    const confusion = new Confusion(meta.labels);
    const kept: Sample[] = [];
    const correct: boolean[] = [];
    const skipped: Skipped[] = [];
    const keptProbs: Float32Array[] = [];
    const ageCodec = meta.task === 'age' ? (meta.age as (AgeCodec & { range?: AgeRangeSpec }) | undefined) : undefined;
    if (meta.task === 'age' && !ageCodec) throw new UserError(`age model "${name(specs[0])}" has no age anchors in its metadata`);
    const predAges: number[] = [];
    let done = 0;

    const index = new Map(samples.map((s, i) => [s, i]));
    let detecting: Promise<unknown> = Promise.resolve();
    const decode = async (s: Sample): Promise<Framed | undefined> => {
      try {
        let img = s.pixels ?? (await decodeImage(s.file!, { grey: !anyColour }));
        let sample = s;
        if (opts.recutSeed !== undefined) {
          img = recutCrop(img, opts.recutSeed, index.get(s)!, { ...DEFAULT_RECUT, rotation: opts.recutRotation ?? 0 });
          sample = { ...s, box: undefined };
        }
        // One detection at a time: a detector reuses its input buffers (decoding runs concurrently).
        const found = detector ? detecting.then(() => locateFaceInCrop(detector, img)) : undefined;
        if (found) detecting = found.catch(() => undefined);
        const face = await found;
        return { img, sample, face };
      } catch (err) {
        skipped.push({ id: s.id, reason: (err as Error).message });
        return undefined;
      }
    };
    let located = 0;
    let next = samples.length ? Promise.all(samples.slice(0, batchSize).map(decode)) : undefined;
    for (let start = 0; start < samples.length; start += batchSize) {
      const batch = samples.slice(start, start + batchSize);
      const imgs = await next!;
      next = start + batchSize < samples.length ? Promise.all(samples.slice(start + batchSize, start + 2 * batchSize).map(decode)) : undefined;
      const good: Array<[Sample, Framed]> = [];
      batch.forEach((s, j) => imgs[j] && good.push([s, imgs[j]!]));
      located += good.filter(([, f]) => f.face).length;
      const m = good.length;
      if (m > 0) {
        // Average of every model and every TTA view.
        const avg = new Float32Array(m * k);
        for (let ri = 0; ri < runtimes.length; ri++) {
          const { inputSize } = runtimes[ri].meta;
          const channels = runtimes[ri].meta.channels as 1 | 3;
          const per = inputSize * inputSize * channels;
          const x = new Float32Array(m * copies * per);
          good.forEach(([, { img, sample, face }], j) => {
            const crop = face
              ? faceCrop(face, detectorMargin(detector!.name, margins[ri]), Boolean(opts.align))
              : { box: cropBoxFor(sample, img, margins[ri]) };
            preprocessFace(img, { inputSize, channels, ...crop }, x, j * per);
            if (copies === 2) preprocessFace(img, { inputSize, channels, ...crop, flip: true }, x, (m + j) * per);
          });
          const probs = await runtimes[ri].run(x, m * copies);
          for (let c = 0; c < copies; c++) for (let i = 0; i < m * k; i++) avg[i] += probs[c * m * k + i] / (copies * runtimes.length);
          if (opts.keepProbabilities) {
            // [sample][view][class], averaged over the ensemble's models.
            const views = new Float32Array(m * copies * k);
            for (let j = 0; j < m; j++)
              for (let c = 0; c < copies; c++) for (let q = 0; q < k; q++) views[(j * copies + c) * k + q] = probs[(c * m + j) * k + q] / runtimes.length;
            if (ri === 0) keptProbs.push(views);
            else keptProbs[keptProbs.length - 1].forEach((v, i, a) => (a[i] = v + views[i]));
          }
        }
        good.forEach(([s], j) => {
          const pred = argmaxRow(avg, j, k);
          confusion.add(s.label, pred);
          kept.push(s);
          correct.push(pred === s.label);
          if (ageCodec) predAges.push(expectedAge(avg, ageCodec.centres, j * k));
        });
      }
      done += batch.length;
      opts.onProgress?.(done, samples.length);
    }
    if (skipped.length > maxBad * samples.length) {
      throw new UserError(
        `${skipped.length} of ${samples.length} images are unreadable (more than ${(maxBad * 100).toFixed(1)}%): ${skipped
          .slice(0, 3)
          .map((s) => `${s.id}: ${s.reason}`)
          .join('; ')}`,
      );
    }
    const seconds = (Date.now() - t0) / 1000;
    return {
      model: specs.map(name).join(' + '),
      task: meta.task,
      arch: [...new Set(runtimes.map((r) => r.meta.arch ?? '?'))].join(' + '),
      data: ds.root,
      format: ds.format,
      split: opts.split,
      splitMethod: ds.split.method + (ds.split.seed !== undefined && !ds.split.method.includes('seed ') ? ` (seed ${ds.split.seed})` : ''),
      tta,
      adultsOnly: Boolean(opts.adults),
      runtime: [...new Set(runtimes.map((r) => r.name))].join(' + '),
      cropMargin: margins[0],
      framing: {
        mode: framing,
        ...(detector ? { located, align: Boolean(opts.align) } : {}),
        ...(opts.recutSeed !== undefined ? { recutSeed: opts.recutSeed, recutRotation: opts.recutRotation ?? 0 } : {}),
      },
      metrics: confusion.metrics(),
      groups: groupMetrics(kept, correct),
      ...(ageCodec ? { age: ageReport(kept, predAges, ageCodec.range, Boolean(opts.keepProbabilities)) } : {}),
      skipped: { count: skipped.length, examples: skipped.slice(0, 20) },
      malformed: { count: ds.skipped.length, of: indexed, examples: ds.skipped.slice(0, 20) },
      seconds,
      imagesPerSecond: kept.length / seconds,
      ...(opts.keepProbabilities
        ? {
            probabilities: {
              labels: kept.map((x) => x.label),
              views: copies,
              values: Float32Array.from(keptProbs.flatMap((a) => Array.from(a))),
            },
          }
        : {}),
    };
  } finally {
    for (const r of owned) await r.dispose();
    if (detector && !opts.detector) detector.dispose();
  }
}
