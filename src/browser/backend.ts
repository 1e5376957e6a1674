/**
 * The tfjs backend in a page: wasm (SIMD; threads when the page is cross-origin isolated) by default,
 * webgl or cpu on request, falling back to cpu. The wasm binaries are fetched from `wasmPaths`.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export interface BrowserBackend {
  /** The backend in use: wasm, webgl or cpu. */
  name: string;
  /** wasm with threads (needs a cross-origin isolated page: COOP + COEP headers). */
  threads: boolean;
}

/** Set the tfjs backend up: the wanted one, else wasm, else cpu. `wasmPaths`: URL prefix of the tfjs-backend-wasm*.wasm files. */
export async function setupBrowserBackend(wanted = 'wasm', wasmPaths?: string): Promise<BrowserBackend> {
  if (wasmPaths) setWasmPaths(wasmPaths);
  for (const name of [wanted, 'wasm', 'cpu']) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        break;
      }
    } catch {
      // try the next backend
    }
  }
  const name = tf.getBackend();
  const threads = name === 'wasm' && (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
  return { name, threads };
}
