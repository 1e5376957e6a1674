/**
 * The age parts of shipping and model cards: the age range fitted on the validation split (residual
 * quantiles stored in the shipped model's metadata, so every runtime can print [lo, hi]), the card's
 * age figures (MAE overall, adults, per decade, gender, ethnic group; bias, RMSE, range coverage),
 * their Markdown, and what the model is worst at.
 */
import * as path from 'node:path';
import type { AgeCodec } from '../data/age.js';
import { agePlotPng } from '../eval/age-plot.js';
import { writeFileAtomic } from '../io/fs-handler.js';
import type { Dataset } from '../data/dataset.js';
import { ageGaps, fitAgeRange, type AgeMetrics, type AgeRangeSpec } from '../eval/age-metrics.js';
import { evaluate } from '../eval/evaluate.js';
import type { ModelMeta } from '../io/model-store.js';

/** The age figures a card keeps of one evaluation (AgeMetrics without per-sample data; `binned` is the plot's) and its gaps. */
export type CardAge = AgeMetrics & { gaps: ReturnType<typeof ageGaps> };

export function cardAge(a: AgeMetrics & { samples?: unknown }): CardAge {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { samples, ...rest } = a;
  return { ...rest, gaps: ageGaps(a) };
}

/** File name of the plot of one card evaluation: age-val.png, age-test-adults.png, ... */
export function agePlotName(e: { split: 'val' | 'test'; adultsOnly: boolean }): string {
  return `age-${e.split}${e.adultsOnly ? '-adults' : ''}.png`;
}

/** Write the predicted-against-true plot of every age evaluation into the shipped model's folder; returns the file names. */
export async function writeAgePlots(
  dir: string,
  evals: Array<{ split: 'val' | 'test'; adultsOnly: boolean; splitName: string; age?: CardAge }>,
): Promise<string[]> {
  const files: string[] = [];
  for (const e of evals) {
    if (!e.age) continue;
    const title = `${e.splitName}${e.adultsOnly ? ', adults' : ''}: MAE ${e.age.mae.toFixed(2)} years (n ${e.age.n})`;
    writeFileAtomic(path.join(dir, agePlotName(e)), await agePlotPng(e.age, title));
    files.push(agePlotName(e));
  }
  return files;
}

/** The residual level the shipped range covers (central 90%). */
export const AGE_RANGE_LEVEL = 0.9;

/**
 * Fit the age range of the model in `dir` on the validation split (all ages, with the TTA it ships
 * with) and return its metadata with the range added under `age.range`.
 */
export async function withAgeRange(
  dir: string,
  meta: ModelMeta,
  ds: Dataset,
  splitName: string,
  opts: { tta: 'none' | 'flip'; runtime?: string; backend?: string },
): Promise<ModelMeta> {
  const r = await evaluate({ model: dir, data: ds, split: 'val', tta: opts.tta, keepProbabilities: true, runtime: opts.runtime, backend: opts.backend });
  const s = r.age!.samples!;
  const range: AgeRangeSpec = fitAgeRange(
    s.truth,
    s.predicted,
    AGE_RANGE_LEVEL,
    `${splitName} (all ages, TTA ${opts.tta}): residual (true - predicted) quantiles ${((1 - AGE_RANGE_LEVEL) / 2).toFixed(2)} and ${((1 + AGE_RANGE_LEVEL) / 2).toFixed(2)} per band of predicted age`,
  );
  return { ...meta, age: { ...(meta.age as AgeCodec), range } };
}

const y2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : 'n/a');

function mdRows(name: string, rows: AgeMetrics['perDecade']): string[] {
  return [`| ${name} | MAE (years) | bias | n |`, '|---|---:|---:|---:|', ...rows.map((r) => `| ${r.value} | ${y2(r.mae)} | ${signed(r.bias)} | ${r.n} |`), ''];
}

/** Markdown of one age evaluation (after its heading). */
export function ageMarkdown(a: CardAge, skipped: number, split: 'val' | 'test', adultsOnly = false): string[] {
  const L = [
    `MAE **${y2(a.mae)} years** on ${a.n} images; RMSE ${y2(a.rmse)}; bias ${signed(a.bias)} (predicted minus true); median absolute error ${y2(a.medianAbsError)}; ` +
      `within 5 years ${(a.within5 * 100).toFixed(1)}%, within 10 years ${(a.within10 * 100).toFixed(1)}%${skipped ? `; ${skipped} unreadable images skipped` : ''}.`,
    '',
  ];
  if (a.range)
    L.push(
      `Age range [lo, hi] (${Math.round(a.range.level * 100)}% validation residual quantiles): covers ${(a.range.coverage * 100).toFixed(1)}% of true ages, mean width ${y2(a.range.meanWidth)} years${split === 'val' ? ' (in-sample: the range was fitted on this split, all ages)' : ''}.`,
      '',
    );
  const g = a.gaps;
  const gapText = [
    g.womenMinusMen !== undefined ? `women minus men MAE ${signed(g.womenMinusMen)} years` : '',
    g.worstEthnicGroup
      ? `worst ethnic group "${g.worstEthnicGroup.value}" MAE ${y2(g.worstEthnicGroup.mae)} (${signed(g.worstEthnicGroup.aboveOverall)} against overall)`
      : '',
  ].filter(Boolean);
  if (gapText.length) L.push(`Gaps: ${gapText.join('; ')}.`, '');
  L.push(`Predicted against true age: [\`${agePlotName({ split, adultsOnly })}\`](${agePlotName({ split, adultsOnly })}).`, '');
  L.push(...mdRows('decade', a.perDecade), ...mdRows('gender', a.perGender));
  if (a.perRace.length) L.push(...mdRows('ethnic group', a.perRace));
  return L;
}

/** What an age model is worst at, from its evaluations (titles given by `title`). */
export function ageLimitations(evals: Array<{ age?: CardAge; title: string }>): string[] {
  const out = [
    'UTKFace ages are apparent ages assigned by annotators from the photos (and partly estimated by an age model during collection), with errors and heaping at round numbers; the model estimates apparent age, not date of birth.',
    'Ages of 90 and above lie beyond the last anchor (90): such faces are estimated at most at 90. Few training faces are over 75, so errors grow with age.',
  ];
  for (const e of evals) {
    const a = e.age;
    if (!a) continue;
    const decades = a.perDecade.filter((d) => d.n >= 20);
    const worst = decades.length ? decades.reduce((x, y) => (y.mae > x.mae ? y : x)) : undefined;
    const parts = [worst ? `the worst decade is ${worst.value} (MAE ${y2(worst.mae)}, bias ${signed(worst.bias)}, ${worst.n} faces)` : ''];
    if (a.gaps.worstEthnicGroup)
      parts.push(
        `the worst ethnic group "${a.gaps.worstEthnicGroup.value}" (MAE ${y2(a.gaps.worstEthnicGroup.mae)}, ${signed(a.gaps.worstEthnicGroup.aboveOverall)} against overall)`,
      );
    if (a.gaps.womenMinusMen !== undefined) parts.push(`women ${signed(a.gaps.womenMinusMen)} years against men`);
    const old = a.perDecade.find((d) => d.value === '70+');
    const young = a.perDecade.find((d) => d.value === '0-9');
    const toward =
      old && young && old.bias < 0 && young.bias > 0
        ? ` Estimates are pulled toward the middle: 70+ by ${signed(old.bias)}, 0-9 by ${signed(young.bias)} years on average.`
        : '';
    out.push(`Measured on ${e.title}: MAE ${y2(a.mae)}; ${parts.filter(Boolean).join('; ')}.${toward}`);
  }
  return out;
}
