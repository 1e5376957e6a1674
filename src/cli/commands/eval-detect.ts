/**
 * `facecls eval detect --data <widerface|fddb dir> [--detector blazeface] [--tiles auto] [--out DIR]`:
 * AP at IoU 0.5 per subset (WIDER FACE easy/medium/hard, FDDB all), precision/recall at the
 * operating threshold, a precision-recall PNG and ms per image (src/eval/detect-eval.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setupBackend } from '../../engine/backend.js';
import { createDetector, DETECTOR_DEFAULTS } from '../../detect/index.js';
import { parseDetectorName, type DetectOptions } from '../../detect/types.js';
import { DETECTION_FORMATS, type DetectionFormat } from '../../eval/detection.js';
import { prCurvePng, runDetectionEval, type DetectEvalReport } from '../../eval/detect-eval.js';
import { UserError } from '../../errors.js';
import { writeFileAtomic } from '../../io/fs-handler.js';
import { countProgress } from '../../train/progress.js';
import { fmt, formatTable, printJson } from '../output.js';
import { parseFloatOption, parseIntOption } from '../options.js';
import { parseTiles } from '../pipeline-options.js';

export interface EvalDetectCliOptions {
  data: string;
  format?: string;
  detector: string;
  tiles: string;
  scoreThreshold?: string;
  minScore: string;
  iou: string;
  atRecall?: string;
  limit?: string;
  json: boolean;
  out?: string;
}

export function formatDetectReport(r: DetectEvalReport): string {
  const lines: string[] = [];
  const settings = Object.entries(r.settings)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`detector ${r.detector}${settings ? ` (${settings})` : ''} on ${r.format} ${r.data}`);
  lines.push(
    `${r.images} images, ${r.faces} faces; IoU >= ${r.iouThreshold}; detection ${fmt(r.msPerImage.mean, 1)} ms per image (median ${fmt(r.msPerImage.median, 1)})`,
  );
  lines.push('');
  lines.push(
    formatTable(r.subsets, [
      { header: 'subset', value: (s) => s.subset },
      { header: 'faces', value: (s) => s.faces, align: 'right' },
      { header: 'AP', value: (s) => fmt(s.ap, 3), align: 'right' },
      { header: `precision@${r.threshold}`, value: (s) => fmt(s.atThreshold.precision, 3), align: 'right' },
      { header: `recall@${r.threshold}`, value: (s) => fmt(s.atThreshold.recall, 3), align: 'right' },
      { header: 'false pos', value: (s) => s.atThreshold.falsePositives, align: 'right' },
      ...(r.subsets[0]?.precisionAtRecall
        ? [
            {
              header: `precision@recall ${r.subsets[0].precisionAtRecall.recall}`,
              value: (s: (typeof r.subsets)[number]) => fmt(s.precisionAtRecall?.precision ?? NaN, 3),
              align: 'right' as const,
            },
          ]
        : []),
    ]),
  );
  if (r.skipped.length) lines.push(`\nskipped ${r.skipped.length} unreadable images, e.g. ${r.skipped[0].id}: ${r.skipped[0].reason}`);
  return lines.join('\n');
}

export async function evalDetect(o: EvalDetectCliOptions, backend?: string): Promise<void> {
  const detectorName = parseDetectorName(o.detector);
  if (o.format !== undefined && !DETECTION_FORMATS.includes(o.format as DetectionFormat))
    throw new UserError(`--format for eval detect must be one of ${DETECTION_FORMATS.join(', ')}, got "${o.format}"`);
  const tiles = parseTiles(o.tiles);
  const threshold =
    o.scoreThreshold === undefined ? DETECTOR_DEFAULTS[detectorName].scoreThreshold : parseFloatOption(o.scoreThreshold, '--score-threshold', 0, 1);
  const minScore = Math.min(threshold, parseFloatOption(o.minScore, '--min-score', 0, 1));
  const iouThreshold = parseFloatOption(o.iou, '--iou', 0.05, 0.95);
  const data = path.resolve(o.data);
  await setupBackend(backend);
  const detector = await createDetector(detectorName);
  const opts: DetectOptions = { scoreThreshold: threshold, minScore, tiles };
  let bar: ReturnType<typeof countProgress> | undefined;
  let report: DetectEvalReport;
  try {
    report = await runDetectionEval({
      data,
      format: o.format as DetectionFormat | undefined,
      detector: o.detector,
      settings: { threshold, tiles: o.tiles, ...(o.detector === 'haar' ? {} : { 'curve down to score': minScore }) },
      detect: (img) => detector.detect(img, opts),
      threshold,
      iouThreshold,
      limit: o.limit === undefined ? undefined : parseIntOption(o.limit, '--limit', 1),
      atRecall: o.atRecall === undefined ? undefined : parseFloatOption(o.atRecall, '--at-recall', 0, 1),
      onProgress: (done, total) => {
        bar ??= countProgress('detecting', total, !o.json);
        bar.update(done);
      },
    });
  } finally {
    bar?.stop();
    detector.dispose();
  }
  if (o.out) {
    const dir = path.resolve(o.out);
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(path.join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(path.join(dir, 'report.txt'), formatDetectReport(report) + '\n');
    writeFileAtomic(path.join(dir, 'pr.png'), await prCurvePng([report]));
  }
  if (o.json) printJson({ ...report, perImage: undefined });
  else {
    console.log(formatDetectReport(report));
    if (o.out) console.log(`\nreport written to ${path.resolve(o.out)} (report.json, report.txt, pr.png)`);
  }
}
