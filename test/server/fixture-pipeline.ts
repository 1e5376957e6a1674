/**
 * A real ServerPipeline for HTTP tests, assembled from zoo models saved to a temp dir and loaded back
 * (untrained weights: labels are arbitrary but every number is computed). Its "detector" reports
 * the whole image as one face, so the server tests do not depend on the detector's quality.
 */
import * as path from 'node:path';
import sharp from 'sharp';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { saveModel } from '../../src/io/model-store.js';
import { preprocessBatch, type Box, type RawImage } from '../../src/data/preprocess.js';
import { TfjsRuntime } from '../../src/runtime/tfjs.js';
import type { ClassifyOptions, ClassifyResult, ServedModel, ServerPipeline } from '../../src/server/pipeline.js';
import { tmpDir } from '../helpers/tmp.js';
import { testMeta } from '../helpers/meta.js';

export async function saveZooModels(dir = tmpDir('facecls-server-models-')): Promise<{ emotion: string; gender: string }> {
  await setupBackend();
  const emotion = path.join(dir, 'emotion');
  const gender = path.join(dir, 'gender');
  const common = { arch: 'tiny-xception', cropMargin: 0.1 };
  const e = buildModel('tiny-xception', { inputSize: 48, channels: 1, numClasses: 7 });
  await saveModel(e, emotion, testMeta('emotion', 48, 1, common));
  e.dispose();
  const g = buildModel('tiny-xception', { inputSize: 48, channels: 1, numClasses: 2 });
  await saveModel(g, gender, testMeta('gender', 48, 1, common));
  g.dispose();
  return { emotion, gender };
}

function scoresOf(probs: Float32Array, row: number, labels: string[]): { label: string; scores: Record<string, number> } {
  const scores: Record<string, number> = {};
  let best = 0;
  labels.forEach((l, j) => {
    scores[l] = probs[row * labels.length + j];
    if (scores[l] > scores[labels[best]]) best = j;
  });
  return { label: labels[best], scores };
}

export interface FixturePipeline extends ServerPipeline {
  /** Extra delay per classify call (ms), to exercise queueing and time limits. */
  delayMs: number;
  calls: number;
  /** Options of the last classify call. */
  lastOptions?: ClassifyOptions;
}

export async function fixturePipeline(dirs: { emotion: string; gender: string }): Promise<FixturePipeline> {
  await setupBackend();
  const emotion = await TfjsRuntime.load(dirs.emotion);
  const gender = await TfjsRuntime.load(dirs.gender);
  const served: ServedModel[] = [
    { role: 'emotion', dir: dirs.emotion, format: 'layers-model', meta: emotion.meta },
    { role: 'gender', dir: dirs.gender, format: 'layers-model', meta: gender.meta },
  ];
  const p: FixturePipeline = {
    delayMs: 0,
    calls: 0,
    detectorName: 'whole-image (test fixture)',
    async classify(image: RawImage, options: ClassifyOptions = {}): Promise<ClassifyResult> {
      p.calls++;
      p.lastOptions = options;
      if (p.delayMs > 0) await new Promise((r) => setTimeout(r, p.delayMs));
      const boxes: Box[] = [[0, 0, image.width, image.height]];
      if (options.detectOnly) return { width: image.width, height: image.height, faces: boxes.map((box) => ({ box, score: 1 })) };
      const opts = { inputSize: 48, channels: 1 as const };
      const e = await emotion.run(preprocessBatch(image, boxes, opts), boxes.length);
      const g = await gender.run(preprocessBatch(image, boxes, opts), boxes.length);
      return {
        width: image.width,
        height: image.height,
        faces: boxes.map((box, i) => ({ box, score: 1, emotion: scoresOf(e, i, emotion.meta.labels), gender: scoresOf(g, i, gender.meta.labels) })),
      };
    },
    async annotate(image: RawImage, result: ClassifyResult): Promise<Buffer> {
      const rects = result.faces.map(
        (f) => `<rect x="${f.box[0]}" y="${f.box[1]}" width="${f.box[2]}" height="${f.box[3]}" fill="none" stroke="lime" stroke-width="3"/>`,
      );
      const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${image.width}" height="${image.height}">${rects.join('')}</svg>`);
      return sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: image.channels } })
        .composite([{ input: svg }])
        .png()
        .toBuffer();
    },
    models: () => served,
    async dispose() {
      await emotion.dispose();
      await gender.dispose();
    },
  };
  return p;
}
