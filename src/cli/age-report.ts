/**
 * How `facecls eval age` shows an age evaluation as text: overall, per decade, gender, ethnic group,
 * range coverage (the plot is src/eval/age-plot.ts).
 */
import { formatTable } from './output.js';
import { ageGaps, type AgeErrorRow, type AgeMetrics } from '../eval/age-metrics.js';

const y2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : 'n/a');

function rowsTable(name: string, rows: AgeErrorRow[]): string {
  return formatTable(rows, [
    { header: name, value: (g) => g.value },
    { header: 'MAE', value: (g) => y2(g.mae), align: 'right' },
    { header: 'bias', value: (g) => signed(g.bias), align: 'right' },
    { header: 'n', value: (g) => g.n, align: 'right' },
  ]);
}

/** The text lines of an age evaluation (after the report's header lines). */
export function formatAgeMetrics(a: AgeMetrics): string[] {
  const lines = [
    `MAE ${y2(a.mae)} years, RMSE ${y2(a.rmse)}, bias ${signed(a.bias)} (predicted minus true), median absolute error ${y2(a.medianAbsError)}; ` +
      `within 5 years ${(a.within5 * 100).toFixed(1)}%, within 10 years ${(a.within10 * 100).toFixed(1)}%; n ${a.n}`,
  ];
  if (a.range)
    lines.push(
      `age range (${Math.round(a.range.level * 100)}% residual quantiles of validation): covers ${(a.range.coverage * 100).toFixed(1)}% of true ages, mean width ${y2(a.range.meanWidth)} years`,
    );
  const gaps = ageGaps(a);
  if (gaps.womenMinusMen !== undefined) lines.push(`women minus men MAE ${signed(gaps.womenMinusMen)} years`);
  if (gaps.worstEthnicGroup)
    lines.push(
      `worst ethnic group ${gaps.worstEthnicGroup.value}: MAE ${y2(gaps.worstEthnicGroup.mae)}, ${signed(gaps.worstEthnicGroup.aboveOverall)} years against overall`,
    );
  for (const [name, rows] of [
    ['decade', a.perDecade],
    ['gender', a.perGender],
    ['ethnic group', a.perRace],
  ] as const) {
    if (!rows.length) continue;
    lines.push('', rowsTable(name, rows));
  }
  return lines;
}
