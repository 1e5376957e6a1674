/**
 * Accuracy per group of the people in a dataset (gender, age band, ethnic group), for the datasets
 * whose samples record them (UTKFace).
 */
import type { Sample } from '../data/dataset.js';

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
