/**
 * Evaluation of a classifier on a dataset split: accuracy, per-class precision / recall / F1,
 * confusion matrix, and (when samples carry age / gender / race, as UTKFace does) accuracy per
 * gender, age band and ethnic group. Every image goes through decodeImage + preprocessFace, the
 * same path as the pipeline; inference through an InferenceRuntime (onnx or tfjs).
 */
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-store.js';
import type { InferenceRuntime } from '../runtime/types.js';
import type { Dataset, DatasetFormat, Sample, Skipped, SplitName } from '../data/dataset.js';
import { DEFAULT_MAX_BAD_FRACTION } from '../data/store.js';
import { checkUnreadable, indexedCount } from '../data/bad-data.js';
import { createDetector, type Detector } from '../detect/index.js';
import { setupBackend } from '../engine/backend.js';
import type { CropFraming } from '../pipeline/crop-framing.js';
import type { Metrics } from './metrics.js';
import { ageMetrics, type AgeMetrics, type AgeRangeSpec } from './age-metrics.js';
import { sampleAge, type AgeCodec } from '../data/age.js';
import { groupMetrics, type GroupMetrics } from './group-metrics.js';
import { openEvalModels, specName } from './eval-models.js';
import { evalSamples } from './eval-samples.js';
import { scoreSamples, type Scored } from './ensemble-scoring.js';

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

/** The report's framing entry: the mode, and what framing 'detect' and a re-cut did. */
function framingReport(opts: EvaluateOptions, located: number): NonNullable<EvalReport['framing']> {
  return {
    mode: opts.framing ?? 'whole',
    ...(opts.framing === 'detect' ? { located, align: Boolean(opts.align) } : {}),
    ...(opts.recutSeed !== undefined ? { recutSeed: opts.recutSeed, recutRotation: opts.recutRotation ?? 0 } : {}),
  };
}

function probabilitiesReport(scored: Scored, copies: number): NonNullable<EvalReport['probabilities']> {
  return {
    labels: scored.kept.map((x) => x.label),
    views: copies,
    values: Float32Array.from(scored.probabilities.flatMap((a) => Array.from(a))),
  };
}

function splitMethod(ds: Dataset): string {
  return ds.split.method + (ds.split.seed !== undefined && !ds.split.method.includes('seed ') ? ` (seed ${ds.split.seed})` : '');
}

/** The age model's codec (class centres and range); fails for an age model without one. */
function ageCodecOf(meta: ModelMeta, name: string): (AgeCodec & { range?: AgeRangeSpec }) | undefined {
  if (meta.task !== 'age') return undefined;
  if (!meta.age) throw new UserError(`age model "${name}" has no age anchors in its metadata`);
  return meta.age as AgeCodec & { range?: AgeRangeSpec };
}

export async function evaluate(opts: EvaluateOptions): Promise<EvalReport> {
  const t0 = Date.now();
  const specs = Array.isArray(opts.model) ? opts.model : [opts.model];
  const owned: InferenceRuntime[] = [];
  const detecting = opts.framing === 'detect';
  if (detecting && !opts.detector) await setupBackend(opts.backend);
  const detector = detecting ? (opts.detector ?? (await createDetector('blazeface'))) : undefined;
  try {
    const runtimes = await openEvalModels(specs, opts, owned);
    const meta: ModelMeta = runtimes[0].meta;
    const maxBadFraction = opts.maxBadFraction ?? DEFAULT_MAX_BAD_FRACTION;
    const { ds, samples } = await evalSamples(meta, { ...opts, maxBadFraction });
    const ageCodec = ageCodecOf(meta, specName(specs[0]));
    const margins = runtimes.map((r) => opts.cropMargin ?? r.meta.cropMargin ?? 0);
    const tta = opts.tta ?? (runtimes.every((r) => r.meta.tta === 'flip') ? 'flip' : 'none');
    const copies = tta === 'flip' ? 2 : 1;
    const scored = await scoreSamples(samples, meta.labels, {
      ...opts,
      runtimes,
      margins,
      copies,
      batchSize: opts.batchSize ?? 64,
      detector,
      ageCentres: ageCodec?.centres,
    });
    checkUnreadable(scored.skipped.length, samples.length, scored.skipped, maxBadFraction);
    const seconds = (Date.now() - t0) / 1000;
    return {
      model: specs.map(specName).join(' + '),
      task: meta.task,
      arch: [...new Set(runtimes.map((r) => r.meta.arch ?? '?'))].join(' + '),
      data: ds.root,
      format: ds.format,
      split: opts.split,
      splitMethod: splitMethod(ds),
      tta,
      adultsOnly: Boolean(opts.adults),
      runtime: [...new Set(runtimes.map((r) => r.name))].join(' + '),
      cropMargin: margins[0],
      framing: framingReport(opts, scored.located),
      metrics: scored.confusion.metrics(),
      groups: groupMetrics(scored.kept, scored.correct),
      ...(ageCodec ? { age: ageReport(scored.kept, scored.predictedAges, ageCodec.range, Boolean(opts.keepProbabilities)) } : {}),
      skipped: { count: scored.skipped.length, examples: scored.skipped.slice(0, 20) },
      malformed: { count: ds.skipped.length, of: indexedCount(ds), examples: ds.skipped.slice(0, 20) },
      seconds,
      imagesPerSecond: scored.kept.length / seconds,
      ...(opts.keepProbabilities ? { probabilities: probabilitiesReport(scored, copies) } : {}),
    };
  } finally {
    for (const r of owned) await r.dispose();
    if (detector && !opts.detector) detector.dispose();
  }
}
