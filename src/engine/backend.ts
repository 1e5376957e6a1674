/**
 * The one place where the compute backend is chosen.
 *
 * Default: the WebAssembly backend (SIMD). Reference: the pure-JS cpu backend.
 * Order of precedence: explicit argument (CLI `--backend`), env `FACECLS_BACKEND`, then `wasm`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UserError } from '../errors.js';
import { settings } from '../settings.js';

export const BACKENDS = ['wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

/** Resolve which backend the process should use, validating user input. */
export function resolveBackendName(requested?: string): BackendName {
  const name = requested === undefined ? (settings.backend() ?? 'wasm') : requested.trim().toLowerCase();
  if (!isBackendName(name)) {
    throw new UserError(`unknown backend "${name}": choose one of ${BACKENDS.join(', ')}`);
  }
  return name;
}

const hooks: Array<(backend: BackendName) => void> = [];

/**
 * Register a function that runs each time a backend becomes active (used by the
 * training engine to add kernels the backend lacks). Runs at once if a backend is already set.
 */
export function onBackendReady(hook: (backend: BackendName) => void): void {
  hooks.push(hook);
  for (const name of activated) hook(name);
}

const activated = new Set<BackendName>();

/** Activate a backend (idempotent). Returns its name. */
export async function setupBackend(requested?: string): Promise<BackendName> {
  const name = resolveBackendName(requested);
  if (tf.getBackend() !== name || !activated.has(name)) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tfjs backend "${name}" failed to initialise`);
    await tf.ready();
    if (!activated.has(name)) {
      activated.add(name);
      for (const hook of hooks) hook(name);
    }
  }
  return name;
}

export function currentBackend(): string {
  return tf.getBackend();
}

export { tf };
