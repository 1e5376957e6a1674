/** CSV output of per-file results: one row per face (`classify --csv`, `batch results --csv`). */
import type { FileResult } from '../pipeline/file-result.js';

export const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function csvHeader(emotionLabels: string[], genderLabels: string[]): string {
  return ['file', 'width', 'height', 'face', 'x', 'y', 'w', 'h', 'score', 'emotion', ...emotionLabels, 'gender', ...genderLabels, 'error'].join(',');
}

export function csvRows(r: FileResult, emotionLabels: string[], genderLabels: string[]): string[] {
  if (r.error || !r.faces || r.faces.length === 0) {
    return [[r.file, r.width, r.height, '', '', '', '', '', '', '', ...emotionLabels.map(() => ''), '', ...genderLabels.map(() => ''), r.error ?? ''].map(csvCell).join(',')];
  }
  return r.faces.map((f, i) =>
    [
      r.file, r.width, r.height, i, ...f.box, f.score,
      f.emotion?.label, ...emotionLabels.map((l) => f.emotion?.scores[l]),
      f.gender?.label, ...genderLabels.map((l) => f.gender?.scores[l]),
      '',
    ].map(csvCell).join(','),
  );
}
