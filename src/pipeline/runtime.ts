/** Loads a classifier into the requested inference runtime. */
import { UserError } from '../errors.js';
import { TfjsRuntime } from '../runtime/tfjs.js';
import type { InferenceRuntime, RuntimeName } from '../runtime/types.js';

export async function loadRuntime(name: RuntimeName, dir: string): Promise<InferenceRuntime> {
  if (name === 'tfjs') return TfjsRuntime.load(dir);
  throw new UserError(`runtime "${name}" is not available`);
}
