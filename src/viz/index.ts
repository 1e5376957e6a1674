/**
 * Seeing what the networks look at: guided back-propagation, Grad-CAM, guided Grad-CAM
 * (saliency.ts), face-level helpers (explain.ts), PNG panels (render.ts, Node: sharp) and in-place
 * frame overlays (overlay.ts, also for the browser).
 */
export {
  SALIENCY_METHODS,
  isSaliencyMethod,
  saliencyMaps,
  saliencyTensors,
  inputGradients,
  graphScores,
  releaseSaliency,
  type SaliencyMethod,
  type SaliencyOptions,
  type SaliencyResult,
  type SaliencyTensors,
} from './saliency.js';
export { guidedRelu, depthwiseGradPolicy, type ScoreSource } from './graph.js';
export { explainFaces, explainedPanel, resolveClass, METHOD_TITLES, type ExplainedFace, type ExplainOptions } from './explain.js';
export { renderSaliencyPanel, displayCrop, resizeMap, type PanelFace, type PanelOptions } from './render.js';
export { blendSaliency, type FrameMap, type BlendOptions } from './overlay.js';
export { colormapLut, colorOf, COLORMAPS, type ColormapName } from './colormap.js';
export { benchSaliency, DEFAULT_BENCH_ARCHS, type SaliencyBenchRow, type SaliencyBenchOptions } from './bench.js';
