/**
 * Choosing the inference runtime: `--runtime tfjs|onnx`, env FACECLS_RUNTIME, else onnx in Node
 * (tfjs is the browser runtime and the fallback when onnxruntime-node cannot load).
 */
import { UserError } from '../errors.js';
import { settings } from '../settings.js';
import type { RuntimeName } from './types.js';

export const RUNTIMES: readonly RuntimeName[] = ['onnx', 'tfjs'];
export const DEFAULT_RUNTIME: RuntimeName = 'onnx';

/** Help text for a commander `--runtime <name>` option. */
export const RUNTIME_OPTION_HELP = 'inference runtime: onnx (onnxruntime-node, default) or tfjs; env FACECLS_RUNTIME';

export function isRuntimeName(name: string): name is RuntimeName {
  return (RUNTIMES as readonly string[]).includes(name);
}

/**
 * Resolve the runtime from a user value (CLI option), then env FACECLS_RUNTIME, then the default.
 * Throws a UserError naming the bad value.
 */
export function parseRuntimeOption(value?: string | null, source = 'runtime'): RuntimeName {
  if (value === undefined || value === null || value.trim() === '') return settings.runtime() ?? DEFAULT_RUNTIME;
  const name = value.trim().toLowerCase();
  if (!isRuntimeName(name)) throw new UserError(`${source} must be one of ${RUNTIMES.join(', ')}, got "${value}"`, { reason: 'unknown-runtime' });
  return name;
}

/** Whether the user chose the runtime explicitly (option or env) rather than taking the default. */
export function runtimeExplicit(value?: string | null): boolean {
  return Boolean(value) || settings.runtime() !== undefined;
}
