/**
 * Saliency panels (PNG, sharp) of explained faces (./explain-faces.ts: the classifier's own crops, one
 * batched pass). Shared by `facecls saliency` and the server.
 */
import type { RawImage } from '../data/preprocess.js';
import { METHOD_TITLES, type SaliencyMethod } from '../core/types.js';
import { formatAge } from '../core/age.js';
import type { ExplainedFace } from './explain-faces.js';
import type { ModelMeta } from '../io/model-meta.js';
import { displayCrop, renderSaliencyPanel, type PanelFace, type PanelOptions } from './render.js';

export { METHOD_TITLES };
export { explainFaces, resolveClass, type ExplainedFace, type ExplainOptions } from './explain-faces.js';

/** PNG panel for explained faces of `img` (display crops re-cut from the image at cell size). */
export async function explainedPanel(img: RawImage, faces: ExplainedFace[], meta: ModelMeta, method: SaliencyMethod, opts: PanelOptions = {}): Promise<Buffer> {
  const cell = opts.cell ?? 192;
  const rows: PanelFace[] = faces.map((f, i) => {
    const pred = f.predicted.label === f.label ? '' : `; predicted ${f.predicted.label} ${f.predicted.probability.toFixed(2)}`;
    // An age map explains the estimate itself unless an anchor was asked for (ExplainedFace.age).
    const what = f.age && f.explains === 'expected-age' ? `age ${formatAge(f.age)}` : `${f.label} ${f.probability.toFixed(2)}${pred}`;
    return {
      crop: displayCrop(img, { box: f.box, angle: f.angle }, cell, meta.channels !== 3),
      map: f.map,
      mapWidth: f.size,
      mapHeight: f.size,
      caption: `face ${i + 1}: ${what}`,
    };
  });
  return renderSaliencyPanel(rows, { ...opts, cell, columns: opts.columns ?? [`${meta.task} crop`, METHOD_TITLES[method], 'overlay'] });
}
