/** Loads a classifier into the requested inference runtime (src/runtime createRuntime: onnx default, tfjs). */
import { createRuntime } from '../runtime/factory.js';
import type { Tta } from '../runtime/tta.js';
import type { InferenceRuntime } from '../runtime/types.js';

export async function loadRuntime(name: string | undefined, dir: string, backend?: string, tta?: Tta): Promise<InferenceRuntime> {
  return createRuntime(dir, { runtime: name, backend, tta });
}
