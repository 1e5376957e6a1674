/** ONNX export of the framework's models (see ./exporter.ts). */
export * from './exporter.js';
export * from './model-dir.js';
export { decodeModel, IR_VERSION, MIN_OPSET, MAX_OPSET } from './schema.js';
