/**
 * Test fixtures for the pipeline: zoo models with random weights saved like shipped models (the
 * pipeline must not care), and composed frames. Random weights give arbitrary but valid probabilities.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { EMOTION_LABELS, GENDER_LABELS, saveModel } from '../../src/io/model-store.js';
import { tmpDir } from '../helpers/tmp.js';

let cached: { emotion: string; gender: string } | undefined;

/** Emotion (mini-xception 48x48 grey, 7 classes) and gender (simpler-cnn 64x64 grey) model dirs. */
export async function randomModels(): Promise<{ emotion: string; gender: string }> {
  if (cached && fs.existsSync(cached.emotion)) return cached;
  await setupBackend();
  const dir = tmpDir('facecls-models-');
  const emotion = path.join(dir, 'emotion');
  const gender = path.join(dir, 'gender');
  const e = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
  await saveModel(e, emotion, { task: 'emotion', labels: [...EMOTION_LABELS], arch: 'mini-xception', inputSize: 48, channels: 1, preprocessing: { colorSpace: 'grey', range: [-1, 1] } });
  e.dispose();
  const g = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 2 });
  await saveModel(g, gender, { task: 'gender', labels: [...GENDER_LABELS], arch: 'mini-xception', inputSize: 64, channels: 1, preprocessing: { colorSpace: 'grey', range: [-1, 1] } });
  g.dispose();
  cached = { emotion, gender };
  return cached;
}
