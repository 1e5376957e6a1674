import { EMOTION_LABELS, GENDER_LABELS, type ModelMeta } from '../../src/io/model-store.js';

/** Metadata for a test model: the task's labels and the [-1, 1] scaling the channels imply (grey or RGB). */
export function testMeta(task: 'emotion' | 'gender', inputSize: number, channels: 1 | 3, extra: Partial<ModelMeta> = {}): ModelMeta {
  const labels = [...(task === 'emotion' ? EMOTION_LABELS : GENDER_LABELS)];
  return { task, labels, inputSize, channels, preprocessing: { colorSpace: channels === 1 ? 'grey' : 'rgb', range: [-1, 1] }, ...extra };
}
