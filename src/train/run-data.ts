/**
 * A run's data: its datasets loaded and split (split.json recorded, or checked on resume), the
 * training and validation sample stores warmed within the cache budget, class weights, and the
 * sample order of each epoch. The test split is never read here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/fs-handler.js';
import { labelCounts, type Dataset, type Sample, type Skipped } from '../data/dataset.js';
import { ageTarget, sampleAge, type AgeCodec } from '../data/age.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { SampleStore } from '../data/store.js';
import { checkMalformed, checkUnreadable } from '../data/bad-data.js';
import { balancedClassWeights, epochOrder } from './batches.js';
import { CONFIG_JSON, readJson, writeRunConfig } from './checkpoint.js';
import { ageCodecOf, splitSeedOf, type TrainOptions } from './options.js';
import { countProgress } from './progress.js';
import { combineSources, dataSources, loadSources, sourceRanges, weightedEpochOrder } from './sources.js';

type Loaded = Awaited<ReturnType<typeof loadSources>>;

export interface RunData {
  /** The datasets (one unless the run trains on several) and their combination. */
  loaded: Loaded;
  ds: Dataset;
  multi: boolean;
  sourceNames: string[];
  /** Training samples per dataset (after --train-limit), and their index ranges in trainStore. */
  trainParts: Dataset['splits']['train'][];
  ranges: ReturnType<typeof sourceRanges>;
  trainStore: SampleStore;
  /** One validation store per dataset. */
  valStores: SampleStore[];
  numClasses: number;
  classWeights?: number[];
  /** Age runs: the codec, and the target row of each sample (its age's distribution over the anchors). */
  age?: AgeCodec;
  sampleTarget?: (s: Sample, y: Float32Array, offset: number) => void;
}

/** Keep only the first `limit` samples of a seeded shuffle (stratification is not attempted). */
export function limitSamples<T>(items: T[], limit: number | undefined, seed: number): T[] {
  if (limit === undefined || limit >= items.length) return items;
  const order = epochOrder(items.length, new Rng(deriveSeed(seed, 0x11a17)));
  return order
    .slice(0, limit)
    .sort((a, b) => a - b)
    .map((i) => items[i]);
}

/** Fail when more than `maxFraction` of the stores' images turned out unreadable. */
export function checkBad(stores: SampleStore[], maxFraction: number): void {
  const bad = stores.reduce((a, s) => a + s.bad.size, 0);
  const total = stores.reduce((a, s) => a + s.length, 0);
  checkUnreadable(
    bad,
    total,
    stores.flatMap((s) => s.skipped()),
    maxFraction,
  );
}

export function resolveClassWeights(o: TrainOptions, counts: number[]): number[] | undefined {
  if (o.classWeights === 'none') return undefined;
  if (o.classWeights === 'balanced') return balancedClassWeights(counts);
  if (o.classWeights.length !== counts.length)
    throw new UserError(`${o.classWeights.length} class weights given for ${counts.length} classes`, { reason: 'class-weights-count' });
  return o.classWeights;
}

/** split.json: written by a new run; a resumed run checks that the data still splits with the same counts. */
function recordSplit(o: TrainOptions, runDir: string, resuming: boolean, loaded: Loaded, ds: Dataset): void {
  const splitFile = path.join(runDir, 'split.json');
  if (resuming && fs.existsSync(splitFile)) {
    const prev = readJson<{ counts: Record<string, number> }>(splitFile);
    if (JSON.stringify(prev.counts) !== JSON.stringify(ds.split.counts)) {
      throw new UserError(
        `the dataset at "${o.data}" no longer matches the run's split.json (counts ${JSON.stringify(prev.counts)} then, ${JSON.stringify(ds.split.counts)} now)`,
      );
    }
    return;
  }
  const record =
    loaded.length > 1
      ? {
          sources: loaded.map((s) => ({
            name: s.name,
            weight: s.spec.weight,
            format: s.ds.format,
            root: s.ds.root,
            ...s.ds.split,
            skippedAtLoad: s.ds.skipped.length,
            filtered: s.ds.filtered,
          })),
          counts: ds.split.counts,
          trainLimit: o.trainLimit,
        }
      : { format: ds.format, root: ds.root, ...ds.split, trainLimit: o.trainLimit, skippedAtLoad: ds.skipped.length, filtered: ds.filtered };
  writeFileAtomic(splitFile, JSON.stringify(record) + '\n');
}

/** The training store and one validation store per dataset, sharing the cache budget in that order. */
function openStores(o: TrainOptions, loaded: Loaded, trainSamples: Dataset['splits']['train']): { trainStore: SampleStore; valStores: SampleStore[] } {
  const budget = o.cacheMb * 1024 * 1024;
  const view = { inputSize: o.inputSize, channels: o.channels, cropMargin: o.cropMargin };
  const trainStore = new SampleStore(trainSamples, { ...view, cacheBytes: budget });
  let valBudget = Math.max(0, budget - trainStore.cachedBytes);
  const valStores = loaded.map((s) => {
    const store = new SampleStore(s.ds.splits.val, { ...view, cacheBytes: valBudget });
    valBudget = Math.max(0, valBudget - store.cachedBytes);
    return store;
  });
  return { trainStore, valStores };
}

/** Decode the cached part of every store (one progress bar), logging what is cached and streamed. */
async function warmStores(
  d: Pick<RunData, 'loaded' | 'multi' | 'trainParts' | 'trainStore' | 'valStores'>,
  backend: string,
  progress: boolean,
  log: (line: string) => void,
): Promise<void> {
  const { loaded, multi, trainParts, trainStore, valStores } = d;
  const sum = (f: (st: SampleStore) => number) => valStores.reduce((a, st) => a + f(st), 0);
  for (const [i, s] of loaded.entries()) {
    log(
      `data: ${s.ds.format} ${s.spec.path}${multi ? ` (${s.name}, weight ${s.spec.weight})` : ''}: train ${trainParts[i].length}, val ${s.ds.splits.val.length} (test ${s.ds.splits.test.length}, not used)`,
    );
  }
  log(
    `cache ${((trainStore.cachedBytes + sum((st) => st.cachedBytes)) / 1048576).toFixed(0)} MB for ${trainStore.cachedCount + sum((st) => st.cachedCount)} samples, ` +
      `${trainStore.length - trainStore.cachedCount + sum((st) => st.length - st.cachedCount)} streamed; backend ${backend}`,
  );
  const loading = countProgress('loading images', trainStore.cachedCount + sum((st) => st.cachedCount), progress);
  await trainStore.warm((done) => loading.update(done));
  let warmed = trainStore.cachedCount;
  for (const st of valStores) {
    await st.warm((done) => loading.update(warmed + done));
    warmed += st.cachedCount;
  }
  loading.stop();
}

/**
 * Load the run's data. A new run records split.json and only then, once its data has loaded, becomes
 * resumable (config.json): a typo in --data leaves no half-made run behind.
 */
export async function loadRunData(
  o: TrainOptions,
  runDir: string,
  resuming: boolean,
  backend: string,
  progress: boolean,
  log: (line: string) => void,
): Promise<RunData> {
  const age = o.task === 'age' ? ageCodecOf(o) : undefined;
  const loaded = await loadSources(dataSources(o), o.task, { seed: splitSeedOf(o), val: o.valFraction, test: o.testFraction }, age);
  if (age && loaded.length > 1) throw new UserError('an age run trains on one dataset (UTKFace)');
  const multi = loaded.length > 1;
  const ds: Dataset = combineSources(loaded);
  // --train-limit applies per dataset.
  const trainParts = loaded.map((s) => limitSamples(s.ds.splits.train, o.trainLimit, o.seed));
  for (const [i, s] of loaded.entries()) {
    if (trainParts[i].length === 0 && s.spec.weight > 0) throw new UserError(`dataset "${s.spec.path}" has no training samples`);
    if (s.ds.splits.val.length === 0)
      throw new UserError(`dataset "${s.spec.path}" has no validation samples (needed to select the best model; the test split is never used for that)`);
  }
  recordSplit(o, runDir, resuming, loaded, ds);
  checkMalformed(ds, o.maxBadFraction, o.data);
  if (!resuming && !fs.existsSync(path.join(runDir, CONFIG_JSON))) writeRunConfig(runDir, o);
  if (ds.skipped.length) log(`skipped ${ds.skipped.length} malformed entries while indexing (e.g. ${ds.skipped[0].id}: ${ds.skipped[0].reason})`);
  const trainSamples = trainParts.flat();
  const stores = openStores(o, loaded, trainSamples);
  const data = {
    loaded,
    ds,
    multi,
    sourceNames: loaded.map((s) => s.name),
    trainParts,
    ranges: sourceRanges(trainParts),
    ...stores,
    numClasses: ds.labels.length,
  };
  await warmStores(data, backend, progress, log);
  checkBad([data.trainStore, ...data.valStores], o.maxBadFraction);
  if (age) return { ...data, age, sampleTarget: (s, y, offset) => void ageTarget(sampleAge(s), age, y, offset) };
  return { ...data, classWeights: resolveClassWeights(o, labelCounts(trainSamples, data.numClasses)) };
}

/** The training samples' order in `epoch` (weighted across datasets when there are several). */
export function orderForEpoch(d: Pick<RunData, 'multi' | 'ranges' | 'loaded' | 'trainStore'>, seed: number, epoch: number): number[] {
  const rng = new Rng(deriveSeed(seed, epoch));
  return d.multi
    ? weightedEpochOrder(
        d.ranges,
        d.loaded.map((s) => s.spec.weight),
        rng,
      )
    : epochOrder(d.trainStore.length, rng);
}

/** Every input skipped so far: malformed entries at indexing, unreadable images in the stores. */
export function skippedInputs(d: Pick<RunData, 'ds' | 'trainStore' | 'valStores'>): Skipped[] {
  return [...d.ds.skipped, ...d.trainStore.skipped(), ...d.valStores.flatMap((st) => st.skipped())];
}
