/**
 * CSV of per-file results, one row per face: what `classify --csv` and `batch results --csv` print.
 * Columns only ever get appended: the age columns (age_years, age_lo, age_hi), present when the age
 * task runs, come last so every earlier column keeps its position.
 */
import type { FaceResult } from '../core/types.js';
import { KEYPOINT_NAMES } from '../detect/types.js';
import type { FileResult } from '../pipeline/file-result.js';

export const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** Keypoint columns of detection-only CSV: right_eye_x, right_eye_y, ... */
const KEYPOINT_COLUMNS = KEYPOINT_NAMES.flatMap((n) => {
  const snake = n.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return [`${snake}_x`, `${snake}_y`];
});

/** The age columns, appended after all others when the age task runs. */
export const AGE_COLUMNS = ['age_years', 'age_lo', 'age_hi'] as const;

/** A face's age cells (empty for a row without a face or without an age). */
export function ageCells(f?: Pick<FaceResult, 'age'>): Array<number | string> {
  return f?.age ? [f.age.years, f.age.range[0], f.age.range[1]] : ['', '', ''];
}

/**
 * CSV header; with `keypoints` (detection only) the keypoint columns come before `error`; with `age`
 * the age columns come after it.
 */
export function csvHeader(emotionLabels: string[], genderLabels: string[], keypoints = false, age = false): string {
  return [
    'file',
    'width',
    'height',
    'face',
    'x',
    'y',
    'w',
    'h',
    'score',
    'emotion',
    ...emotionLabels,
    'gender',
    ...genderLabels,
    ...(keypoints ? KEYPOINT_COLUMNS : []),
    'error',
    ...(age ? AGE_COLUMNS : []),
  ].join(',');
}

export function csvRows(r: FileResult, emotionLabels: string[], genderLabels: string[], keypoints = false, age = false): string[] {
  if (r.error || !r.faces || r.faces.length === 0) {
    return [
      [
        r.file,
        r.width,
        r.height,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        ...emotionLabels.map(() => ''),
        '',
        ...genderLabels.map(() => ''),
        ...(keypoints ? KEYPOINT_COLUMNS.map(() => '') : []),
        r.error ?? '',
        ...(age ? ageCells() : []),
      ]
        .map(csvCell)
        .join(','),
    ];
  }
  return r.faces.map((f, i) =>
    [
      r.file,
      r.width,
      r.height,
      i,
      ...f.box,
      f.score,
      f.emotion?.label,
      ...emotionLabels.map((l) => f.emotion?.scores[l]),
      f.gender?.label,
      ...genderLabels.map((l) => f.gender?.scores[l]),
      ...(keypoints ? KEYPOINT_NAMES.flatMap((n): Array<number | string> => f.keypoints?.[n] ?? ['', '']) : []),
      '',
      ...(age ? ageCells(f) : []),
    ]
      .map(csvCell)
      .join(','),
  );
}
