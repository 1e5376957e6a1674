/** Inference runtimes: onnxruntime-node (default in Node) and tfjs (browser, fallback). */
export * from './types.js';
export * from './options.js';
export { TfjsRuntime } from './tfjs.js';
export { OnnxRuntime, loadOrt, defaultIntraOpThreads, type OnnxRuntimeOptions } from './onnx.js';
export { createRuntime, createRuntimeFromModel, type CreateRuntimeOptions } from './factory.js';
