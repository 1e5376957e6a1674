/**
 * The samples an evaluation scores: the split of a dataset (loaded with the model's task and training
 * split unless given loaded), checked against the model's labels, optionally only adults, optionally
 * thinned to a number of evenly spaced samples.
 */
import { DEFAULT_SPLIT, type Dataset, type DatasetFormat, type Sample, type SplitName } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import type { AgeCodec } from '../data/age.js';
import { checkMalformed } from '../data/bad-data.js';
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-store.js';
import { trainingInfo } from './eval-models.js';

export const ADULT_AGE = 18;

export interface SampleOptions {
  data: string | Dataset;
  split: SplitName;
  format?: DatasetFormat;
  splitSeed?: number;
  valFraction?: number;
  testFraction?: number;
  adults?: boolean;
  limit?: number;
  maxBadFraction: number;
}

/** The dataset at `o.data`, split as the model was trained unless the options say otherwise. */
async function datasetFor(meta: ModelMeta, o: SampleOptions): Promise<Dataset> {
  if (typeof o.data !== 'string') return o.data;
  const info = trainingInfo(meta);
  return loadDataset(o.data, {
    task: meta.task,
    format: o.format,
    ...(meta.task === 'age' && meta.age ? { ageCodec: meta.age as AgeCodec } : {}),
    split: {
      seed: o.splitSeed ?? info.splitSeed ?? DEFAULT_SPLIT.seed,
      val: o.valFraction ?? info.valFraction ?? DEFAULT_SPLIT.val,
      test: o.testFraction ?? info.testFraction ?? DEFAULT_SPLIT.test,
    },
  });
}

/** Only the samples of adults; fails for a dataset that records no ages. */
export function adultsOnly(samples: Sample[], ds: Dataset): Sample[] {
  if (!samples.some((s) => s.meta?.age !== undefined))
    throw new UserError(`the ${ds.format} dataset "${ds.root}" records no ages, so it has no adults to keep`, { reason: 'no-ages' });
  return samples.filter((s) => s.meta?.age !== undefined && s.meta.age >= ADULT_AGE);
}

/** `limit` evenly spaced samples, so a limited run still covers every class / stratum of the split. */
export function evenlySpaced<T>(items: T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return items;
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]);
}

export async function evalSamples(meta: ModelMeta, o: SampleOptions): Promise<{ ds: Dataset; samples: Sample[] }> {
  const ds = await datasetFor(meta, o);
  checkMalformed(ds, o.maxBadFraction);
  if (ds.labels.join() !== meta.labels.join())
    throw new UserError(`model labels (${meta.labels.join(', ')}) differ from the dataset's (${ds.labels.join(', ')})`);
  const split = ds.splits[o.split];
  const samples = evenlySpaced(o.adults ? adultsOnly(split, ds) : split, o.limit);
  if (samples.length === 0) throw new UserError(`the ${o.split} split of "${ds.root}" has no samples${o.adults ? ' of adults' : ''}`);
  return { ds, samples };
}
