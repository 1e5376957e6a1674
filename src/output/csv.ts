/** CSV of per-file results, one row per face: what `classify --csv` and `batch results --csv` print. */
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

/** CSV header; with `keypoints` (detection only) the keypoint columns come before `error`. */
export function csvHeader(emotionLabels: string[], genderLabels: string[], keypoints = false): string {
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
  ].join(',');
}

export function csvRows(r: FileResult, emotionLabels: string[], genderLabels: string[], keypoints = false): string[] {
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
    ]
      .map(csvCell)
      .join(','),
  );
}
