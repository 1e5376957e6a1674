/**
 * facecls in the browser: `import { BrowserFaceClassifier, renderFrame, imagePixels } from 'facecls/browser'`.
 * An ESM build (dist/browser/facecls.js, tfjs included; the tfjs wasm binaries beside it) that loads
 * the shipped models and the BlazeFace detector over HTTP and runs detection, classification (the
 * core's crop rule, preprocessing and TTA) and saliency in a page, with the core's drawing.
 *
 *   const fc = await BrowserFaceClassifier.load({ baseUrl: '/node_modules/facecls/' });
 *   const img = imagePixels(video, video.videoWidth, video.videoHeight);
 *   const result = await fc.classify(img);
 *   renderFrame(canvas, video, img.width, img.height, result.faces, { maps: fc.explain(img, result) });
 *
 * Runtime: tfjs on the wasm backend. Measured against onnxruntime-web (docs/browser.md): BlazeFace
 * 90.7 ms vs 220.1; classifying one face 87.3 vs 22.4, four faces 91.0 vs 46.8. Detection dominates
 * a frame and saliency needs tfjs gradients, so one runtime, tfjs wasm, does everything.
 */
export { BrowserFaceClassifier, type BrowserLoadOptions, type BrowserClassifyOptions, type BrowserResult } from './classifier.js';
export { setupBrowserBackend, type BrowserBackend } from './backend.js';
export { imagePixels, renderFrame, type RenderOptions } from './draw.js';
export * from '../core/index.js';
export { BlazeFaceCore as BlazeFaceDetector } from '../detect/blazeface-core.js';
export type { Detection, DetectOptions, Keypoints, TileMode } from '../detect/types.js';
export { faceCrop, preprocessBatch, preprocessFace, squareBox, type Box, type FaceCrop, type RawImage } from '../data/preprocess.js';
export { explainFaces, resolveClass, type ExplainedFace, type ExplainOptions } from '../viz/explain-faces.js';
export { blendSaliency, type FrameMap, type BlendOptions } from '../viz/overlay.js';
export { LayersRuntime } from '../runtime/layers.js';
export type { InferenceRuntime } from '../runtime/types.js';
export type { ModelMeta } from '../io/model-meta.js';
