/**
 * Knowledge distillation (--teacher): a trained model's softened predictions mixed into the batch
 * targets, target = (1 - w) * label target + w * softmax(teacher logits / T). A teacher with the
 * student's input sees every augmented batch; one with another input predicts each training image
 * once, un-augmented, at its own input, and that prediction serves every epoch.
 */
import { UserError } from '../errors.js';
import { createRuntime } from '../runtime/factory.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { SampleStore } from '../data/store.js';
import type { TrainOptions } from './options.js';
import { countProgress } from './progress.js';
import { preparedChunks } from './validate.js';

/** A teacher that sees every augmented batch (the student's input), or its predictions per training sample (another input). */
export type Teacher = { runtime: InferenceRuntime; perSample?: undefined } | { runtime?: undefined; perSample: Float32Array };

/** The teacher of a run with --teacher; errors name the model when its labels or input cannot serve. */
export async function openTeacher(o: TrainOptions, labels: string[], store: SampleStore, progress: boolean, log: (line: string) => void): Promise<Teacher> {
  const t = await createRuntime(o.teacher!, { backend: o.backend });
  let kept = false;
  try {
    const m = t.meta;
    if (m.labels.join() !== labels.join())
      throw new UserError(`teacher model "${o.teacher}": labels ${m.labels.join(', ')} differ from the dataset's ${labels.join(', ')}`);
    if (m.inputSize === o.inputSize && m.channels === o.channels) {
      kept = true;
      return { runtime: t };
    }
    if (o.mixup > 0) {
      throw new UserError(
        `teacher model "${o.teacher}": its input ${m.inputSize}x${m.inputSize}x${m.channels} differs from the student's ${o.inputSize}x${o.inputSize}x${o.channels}, ` +
          'so it predicts each training image once, which mixed-up images cannot use',
        { reason: 'teacher-input-mismatch' },
      );
    }
    const perSample = await teacherPerSample(t, store, progress);
    log(
      `teacher ${o.teacher} (${m.inputSize}x${m.inputSize}x${m.channels}, TTA ${t.tta}): input differs from the student's, so its predictions on the ${store.length} un-augmented training images serve every epoch`,
    );
    return { perSample };
  } finally {
    // The per-sample teacher is done after its one pass.
    if (!kept) await t.dispose();
  }
}

/**
 * The teacher's probabilities for every sample of `store`, each image un-augmented and prepared at the
 * teacher's own input (size, channels, crop margin) by the same preprocessFace; the teacher's TTA
 * applies. Row i belongs to store sample i; rows of unreadable samples stay NaN (they never reach a batch).
 */
export async function teacherPerSample(teacher: InferenceRuntime, store: SampleStore, progress = false): Promise<Float32Array> {
  const { inputSize, labels, cropMargin } = teacher.meta;
  const channels = teacher.meta.channels === 3 ? 3 : 1;
  const k = labels.length;
  const view = new SampleStore(store.samples, { inputSize, channels, cropMargin: cropMargin ?? 0, cacheBytes: 0 });
  const out = new Float32Array(store.length * k).fill(NaN);
  const bar = countProgress('teacher predictions', store.length, progress);
  for await (const { x, rows, end } of preparedChunks(view, 64)) {
    const p = await teacher.run(x, rows.length);
    rows.forEach((i, r) => out.set(p.subarray(r * k, (r + 1) * k), i * k));
    bar.update(end);
  }
  bar.stop();
  return out;
}

/**
 * Mix the teacher's softened predictions on the (augmented, possibly mixed-up) batch into the
 * targets, in place. p^(1/T) renormalised equals softmax(logits / T). The teacher part is scaled by
 * the row's total target weight so class weights keep their effect.
 */
export async function distillTargets(
  teacher: InferenceRuntime,
  x: Float32Array,
  y: Float32Array,
  n: number,
  k: number,
  weight: number,
  temperature: number,
): Promise<void> {
  mixTeacherTargets(await teacher.run(x, n), y, n, k, weight, temperature);
}

/** distillTargets with the teacher's probabilities `p` (row r for target row r) already at hand. */
export function mixTeacherTargets(p: Float32Array, y: Float32Array, n: number, k: number, weight: number, temperature: number): void {
  for (let r = 0; r < n; r++) {
    let z = 0;
    const q = new Float64Array(k);
    for (let j = 0; j < k; j++) z += q[j] = Math.pow(Math.max(p[r * k + j], 1e-12), 1 / temperature);
    let rowWeight = 0;
    for (let j = 0; j < k; j++) rowWeight += y[r * k + j];
    for (let j = 0; j < k; j++) y[r * k + j] = (1 - weight) * y[r * k + j] + weight * rowWeight * (q[j] / z);
  }
}

/** A training batch (targets `y`, rows of store samples `indices`) whose targets take the teacher's in, in place. */
export async function teachBatch(
  teacher: Teacher,
  batch: { x: Float32Array; y: Float32Array; n: number; indices: number[] },
  numClasses: number,
  o: Pick<TrainOptions, 'distillWeight' | 'distillTemperature'>,
): Promise<void> {
  const { x, y, n, indices } = batch;
  const [w, t] = [o.distillWeight ?? 0.5, o.distillTemperature ?? 2];
  if (teacher.perSample) {
    const p = new Float32Array(n * numClasses);
    indices.forEach((i, r) => p.set(teacher.perSample.subarray(i * numClasses, (i + 1) * numClasses), r * numClasses));
    mixTeacherTargets(p, y, n, numClasses, w, t);
  } else {
    await distillTargets(teacher.runtime, x, y, n, numClasses, w, t);
  }
}
