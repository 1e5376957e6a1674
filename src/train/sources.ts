/**
 * Training on several datasets at once (e.g. FER-2013 + RAF-DB): each source is loaded and split
 * by its own loader, the labels must agree (one label space: the task's), the training samples are
 * concatenated and drawn per epoch with per-source sampling weights, and validation is kept per
 * source so it can be reported per dataset and combined (the mean over sources, each dataset
 * counting equally whatever its size: that combination selects the best model).
 */
import * as path from 'node:path';
import { UserError } from '../errors.js';
import type { Task } from '../io/model-store.js';
import { splitCounts, type Dataset, type DatasetFormat, type HashSplitOptions, type Sample } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import type { AgeCodec } from '../data/age.js';
import type { Rng } from '../data/rng.js';

export interface DataSource {
  path: string;
  format?: DatasetFormat;
  /**
   * Sampling weight: each epoch draws this many passes over the source's training samples (a
   * fraction draws a seeded subset), so 2 shows every sample twice and 0.5 half of them. Default 1.
   */
  weight: number;
}

export interface LoadedSource {
  spec: DataSource;
  /** Short name used in logs, log.csv columns and cards (the folder name, made unique). */
  name: string;
  ds: Dataset;
}

/** The sources of a run: `sources` when given, else the single `data` (+ `format`). */
export function dataSources(o: { data: string; format?: DatasetFormat; sources?: DataSource[] }): DataSource[] {
  if (o.sources && o.sources.length > 0) return o.sources;
  return [{ path: o.data, ...(o.format ? { format: o.format } : {}), weight: 1 }];
}

function uniqueNames(paths: string[]): string[] {
  const names: string[] = [];
  for (const p of paths) {
    const base = path.basename(p.replace(/[\\/]+$/, '')).replace(/\.[a-z0-9]+$/i, '') || 'data';
    let n = base;
    for (let i = 2; names.includes(n); i++) n = `${base}-${i}`;
    names.push(n);
  }
  return names;
}

export async function loadSources(sources: DataSource[], task: Task, split: HashSplitOptions, ageCodec?: AgeCodec): Promise<LoadedSource[]> {
  if (sources.length === 0) throw new UserError('no dataset given', { reason: 'no-dataset' });
  const names = uniqueNames(sources.map((s) => s.path));
  const out: LoadedSource[] = [];
  for (const [i, spec] of sources.entries()) {
    if (!(spec.weight >= 0) || !Number.isFinite(spec.weight))
      throw new UserError(`dataset "${spec.path}": sampling weight must be a non-negative number, got ${spec.weight}`);
    const ds = await loadDataset(spec.path, { task, format: spec.format, split, ...(ageCodec ? { ageCodec } : {}) });
    if (out.length && ds.labels.join() !== out[0].ds.labels.join()) {
      throw new UserError(
        `dataset "${spec.path}" has labels ${ds.labels.join(', ')}, unlike "${out[0].spec.path}" (${out[0].ds.labels.join(', ')}): sources must share one label space`,
      );
    }
    out.push({ spec, name: names[i], ds });
  }
  if (out.every((s) => s.spec.weight === 0)) throw new UserError('every dataset has sampling weight 0: nothing to train on');
  return out;
}

/**
 * One Dataset view over several sources: training and validation samples concatenated in source
 * order (test too, never used by training), skipped entries pooled. A single source is returned as is.
 */
export function combineSources(sources: LoadedSource[]): Dataset {
  if (sources.length === 1) return sources[0].ds;
  const cat = (k: 'train' | 'val' | 'test') => sources.flatMap((s) => s.ds.splits[k]);
  const splits = { train: cat('train'), val: cat('val'), test: cat('test') };
  return {
    format: sources[0].ds.format,
    root: sources[0].ds.root,
    labels: sources[0].ds.labels,
    splits,
    skipped: sources.flatMap((s) => s.ds.skipped),
    split: { method: sources.map((s) => `${s.name}: ${s.ds.split.method}`).join('; '), counts: splitCounts(splits) },
  };
}

/** Index ranges of each source's training samples inside the concatenated training list. */
export function sourceRanges(perSource: Sample[][]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  for (const s of perSource) {
    out.push([start, start + s.length]);
    start += s.length;
  }
  return out;
}

/**
 * The training indices of one epoch: each source's indices `floor(weight)` times plus a seeded
 * subset of `frac(weight)` of them, all shuffled together.
 */
export function weightedEpochOrder(ranges: Array<[number, number]>, weights: number[], rng: Rng): number[] {
  const order: number[] = [];
  ranges.forEach(([a, b], s) => {
    const w = weights[s];
    const idx = Array.from({ length: b - a }, (_, i) => a + i);
    for (let r = 0; r < Math.floor(w); r++) order.push(...idx);
    const extra = Math.round((w - Math.floor(w)) * idx.length);
    if (extra > 0) order.push(...(rng.shuffle(idx.slice()) as number[]).slice(0, extra));
  });
  return rng.shuffle(order) as number[];
}

export interface SourceScore {
  name: string;
  loss: number;
  acc: number;
  n: number;
  /** Age models: validation MAE in years. */
  mae?: number;
}

/** The combined validation figure: the mean over sources (each dataset counts equally). */
export function combineScores(scores: SourceScore[]): { loss: number; acc: number; n: number } {
  const k = scores.length;
  return {
    loss: scores.reduce((a, s) => a + s.loss, 0) / k,
    acc: scores.reduce((a, s) => a + s.acc, 0) / k,
    n: scores.reduce((a, s) => a + s.n, 0),
  };
}
