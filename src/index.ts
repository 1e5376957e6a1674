/** facecls library entry. */
export * from './errors.js';
export * from './engine/backend.js';
export * from './framework/index.js';
export * from './io/fs-handler.js';
export * from './io/model-store.js';
export * from './data/preprocess.js';
export * from './io/onnx/index.js';
export * from './runtime/index.js';
export * from './viz/index.js';
