/**
 * PNG of predicted against true age for an age evaluation: per 5-year band of true age, the mean
 * prediction and its 10th / 90th percentiles, with the identity line. Aggregate metrics only; no
 * image is drawn.
 */
import { lineChartSvg, svgToPng } from '../train/plot.js';
import type { AgeMetrics } from './age-metrics.js';

/** PNG of predicted against true age: per 5-year band of true age, the mean prediction and its 10th / 90th percentiles. */
export async function agePlotPng(a: Pick<AgeMetrics, 'binned'>, title: string): Promise<Buffer> {
  const mid = (b: { from: number }) => b.from + 2.5;
  const top = Math.max(10, ...a.binned.map((b) => b.from + 5));
  const svg = lineChartSvg(title, 'true age (5-year bands; y: predicted age, years)', [
    {
      name: 'predicted = true',
      color: '#999999',
      points: [
        [0, 0],
        [top, top],
      ],
    },
    { name: 'mean predicted', color: '#d62728', points: a.binned.map((b) => [mid(b), b.meanPredicted]) },
    { name: '10th percentile', color: '#1f77b4', points: a.binned.map((b) => [mid(b), b.p10]) },
    { name: '90th percentile', color: '#2ca02c', points: a.binned.map((b) => [mid(b), b.p90]) },
  ]);
  return svgToPng(svg);
}
