/**
 * Test-time augmentation inside the runtimes: a model shipped with `tta: 'flip'` in its metadata
 * (facecls ship --tta flip) is run on each face and on its mirror image and the two probability rows
 * are averaged, everywhere it runs (pipeline, server, CLI, teacher), so what users get is what the
 * model card measured. Mirroring the preprocessed face equals preprocessFace(..., { flip: true }),
 * which samples the same grid in mirrored order.
 */
import { UserError } from '../errors.js';
import type { ModelMeta } from '../io/model-meta.js';

export type Tta = 'none' | 'flip';
export const TTA_MODES: readonly Tta[] = ['none', 'flip'];

/** The TTA a runtime applies: the requested one, else the model's (metadata), else none. */
export function resolveTta(requested: Tta | string | undefined, meta: Pick<ModelMeta, 'tta'>, source = 'tta'): Tta {
  const raw = requested ?? (meta.tta as string | undefined) ?? 'none';
  if (!(TTA_MODES as readonly string[]).includes(raw)) {
    throw new UserError(`${requested === undefined ? "the model metadata's tta" : source} must be one of ${TTA_MODES.join(', ')}, got "${raw}"`);
  }
  return raw as Tta;
}

/** A `--tta` command-line value: undefined when not given (each model's own TTA applies). */
export function parseTtaOption(value: string | undefined, source = 'tta'): Tta | undefined {
  return value === undefined ? undefined : resolveTta(value, {}, source);
}

/** [n, s, s, c] faces -> [2n, s, s, c]: the faces, then each face mirrored left-right. */
export function withMirrors(data: Float32Array, n: number, s: number, c: number): Float32Array {
  const per = s * s * c;
  const out = new Float32Array(2 * n * per);
  out.set(data.subarray(0, n * per));
  const row = s * c;
  for (let i = 0; i < n; i++) {
    const src = i * per;
    const dst = (n + i) * per;
    for (let y = 0; y < s; y++) {
      const r = y * row;
      for (let x = 0; x < s; x++) {
        const from = src + r + x * c;
        const to = dst + r + (s - 1 - x) * c;
        for (let k = 0; k < c; k++) out[to + k] = data[from + k];
      }
    }
  }
  return out;
}

/** [2n, k] rows (faces, then mirrors) -> [n, k]: the mean of each face's two rows. */
export function averageMirrors(probs: Float32Array, n: number, k: number): Float32Array {
  if (probs.length !== 2 * n * k) throw new Error(`expected ${2 * n * k} values for ${n} faces and their mirrors, got ${probs.length}`);
  const out = new Float32Array(n * k);
  for (let i = 0; i < n * k; i++) out[i] = (probs[i] + probs[n * k + i]) / 2;
  return out;
}
