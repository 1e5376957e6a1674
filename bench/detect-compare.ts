/**
 * facecls's BlazeFace against @vladmandic/human's BlazeFace (same weights) on a labelled photo set
 * (default ../shared/datasets/widerface-dev500), photo by photo: AP per subset, and how the boxes sit
 * on the faces they find (median IoU, centre offset and size relative to the labelled box, for faces
 * matched at IoU >= 0.3), for facecls variants of pre- and post-processing.
 *
 *   node dist/bench/detect-compare.js [--limit 200] [--variants default,before,raw-box,stretch] [--threshold 0.6] [--no-human]
 *
 * Each row's precision/recall and box geometry are at its own threshold (the variant's, else --threshold).
 */
import * as path from 'node:path';
import { datasetPath } from '../src/data/paths.js';
import type { Box } from '../src/data/preprocess.js';
import { BLAZEFACE_DEFAULTS, BlazeFaceDetector, type BlazeFaceTuning } from '../src/detect/blazeface.js';
import { iou } from '../src/detect/nms.js';
import type { DetectOptions } from '../src/detect/types.js';
import { setupBackend } from '../src/engine/backend.js';
import { loadDetectionSet } from '../src/eval/detection.js';
import { runDetectionEval, type DetectEvalReport } from '../src/eval/detect-eval.js';
import { loadHumanBlazeFace } from './peers.js';
import { arg } from './args.js';

/** The detector as it was before it was tuned on real photos (issue 21): 1024 px tiles, no tile rule, raw box, threshold 0.45. */
const BEFORE: DetectOptions & BlazeFaceTuning = { scoreThreshold: 0.45, boxTop: 0, tileSides: [1024], tileRule: false, contained: 1 };

const VARIANTS: Record<string, DetectOptions & BlazeFaceTuning> = {
  default: {},
  'tiles-off': { tiles: false },
  'tiles-always': { tiles: true },
  'tiles-dense': { tiles: 'dense' },
  stretch: { fit: 'stretch' },
  bilinear: { sampling: 'bilinear' },
  'hard-nms': { weighted: false },
  'raw-box': { boxTop: 0 },
  'human-like': { fit: 'stretch', sampling: 'bilinear', weighted: false, tiles: false },
  before: { ...BEFORE },
  'before-tiles-off': { ...BEFORE, tiles: false },
  'before-tiles-always': { ...BEFORE, tiles: true },
};

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

interface Geometry {
  matched03: number;
  matched05: number;
  medianIou: number;
  dx: number;
  dy: number;
  width: number;
  height: number;
  perFace: number[];
}

/** For every valid face (hard subset), the best detection at or above the threshold and how it sits. */
function geometry(r: DetectEvalReport, truth: Map<string, { boxes: Box[]; member: boolean[] }>): Geometry {
  const ious: number[] = [];
  const dx: number[] = [];
  const dy: number[] = [];
  const sw: number[] = [];
  const sh: number[] = [];
  const perFace: number[] = [];
  let m05 = 0;
  for (const im of r.perImage) {
    const t = truth.get(im.id)!;
    t.boxes.forEach((g, i) => {
      if (!t.member[i]) return;
      let best = 0;
      let bd: Box | undefined;
      for (const d of im.detections) {
        const o = iou(g, d.box);
        if (o > best) [best, bd] = [o, d.box];
      }
      perFace.push(best);
      if (!bd || best < 0.3) return;
      if (best >= 0.5) m05++;
      ious.push(best);
      dx.push((bd[0] + bd[2] / 2 - (g[0] + g[2] / 2)) / g[2]);
      dy.push((bd[1] + bd[3] / 2 - (g[1] + g[3] / 2)) / g[3]);
      sw.push(bd[2] / g[2]);
      sh.push(bd[3] / g[3]);
    });
  }
  return { matched03: ious.length, matched05: m05, medianIou: med(ious), dx: med(dx), dy: med(dy), width: med(sw), height: med(sh), perFace };
}

async function main() {
  const data = arg('--data') ?? datasetPath('widerface-dev500');
  const limit = arg('--limit') ? Number(arg('--limit')) : undefined;
  const threshold = Number(arg('--threshold') ?? BLAZEFACE_DEFAULTS.scoreThreshold);
  const names = (arg('--variants') ?? Object.keys(VARIANTS).join(',')).split(',');
  await setupBackend();
  const set = loadDetectionSet(data);
  const subset = set.subsets[set.subsets.length - 1];
  const truth = new Map(set.images.map((im) => [im.id, { boxes: im.boxes, member: im.member[subset] }]));
  const rows: Array<{ name: string; r: DetectEvalReport; g: Geometry }> = [];
  const det = await BlazeFaceDetector.load();
  for (const name of names) {
    const v = VARIANTS[name];
    if (!v) throw new Error(`unknown variant ${name}: ${Object.keys(VARIANTS).join(', ')}`);
    const thr = v.scoreThreshold ?? threshold;
    const r = await runDetectionEval({
      data,
      detector: `facecls ${name}`,
      detect: (img) => det.detect(img, { scoreThreshold: thr, minScore: 0.05, ...v }),
      threshold: thr,
      limit,
    });
    rows.push({ name: `facecls ${name}`, r, g: geometry(r, truth) });
    process.stderr.write(`${name} done\n`);
  }
  det.dispose();
  if (!process.argv.includes('--no-human')) {
    const human = await loadHumanBlazeFace({ minConfidence: 0.05 });
    const r = await runDetectionEval({ data, detector: 'human', detect: human, threshold, limit });
    rows.push({ name: 'human BlazeFace (scale 1)', r, g: geometry(r, truth) });
  }
  console.log(
    `data ${path.resolve(data)}, ${rows[0].r.images} images; threshold ${threshold} (variants may set their own) for the box geometry; geometry over the ${subset} subset's faces matched at IoU >= 0.3 (medians; dx, dy: centre offset / labelled width, height; w, h: size / labelled size)`,
  );
  console.log('detector | AP ' + set.subsets.join(' / ') + ' | P / R @thr (last subset) | ms/img | matched@0.3 | @0.5 | median IoU | dx | dy | w | h');
  for (const { name, r, g } of rows) {
    const last = r.subsets[r.subsets.length - 1].atThreshold;
    console.log(
      [
        name,
        r.subsets.map((s) => s.ap.toFixed(3)).join(' / '),
        `${last.precision.toFixed(3)} / ${last.recall.toFixed(3)}`,
        r.msPerImage.mean.toFixed(1),
        g.matched03,
        g.matched05,
        g.medianIou.toFixed(3),
        g.dx.toFixed(3),
        g.dy.toFixed(3),
        g.width.toFixed(3),
        g.height.toFixed(3),
      ].join(' | '),
    );
  }
  const human = rows.find((x) => x.name.startsWith('human'));
  if (human) {
    for (const { name, g } of rows) {
      if (name === human.name) continue;
      let oursOnly = 0;
      let humanOnly = 0;
      g.perFace.forEach((o, i) => {
        const h = human.g.perFace[i];
        if (o >= 0.5 && h < 0.5) oursOnly++;
        if (h >= 0.5 && o < 0.5) humanOnly++;
      });
      console.log(`${name} vs human, face by face at IoU 0.5: found only by facecls ${oursOnly}, only by human ${humanOnly}`);
    }
  }
}

await main();
