/** tfjs runtime in Node: the browser-safe LayersRuntime (./layers.ts) plus loading from a model directory. */
import { loadModel } from '../io/model-store.js';
import { LayersRuntime } from './layers.js';
import type { Tta } from './tta.js';

export { LayersRuntime };

export class TfjsRuntime extends LayersRuntime {
  static async load(dir: string, tta?: Tta): Promise<TfjsRuntime> {
    const loaded = await loadModel(dir);
    try {
      return new TfjsRuntime(loaded, tta);
    } catch (err) {
      loaded.model.dispose();
      throw err;
    }
  }
}
