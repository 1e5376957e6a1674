/** facecls library entry. */
export * from './errors.js';
export * from './engine/backend.js';
export * from './framework/index.js';
export * from './io/fs-handler.js';
export * from './io/model-store.js';
export * from './data/preprocess.js';
export * from './data/decode.js';
export { loadDataset, detectFormat, parseSplitName, DATASET_FORMATS } from './data/load.js';
export type { Dataset, DatasetFormat, Sample, SampleMeta, SplitName, Skipped } from './data/dataset.js';
export { train, resumeTraining, DEFAULT_TRAIN_OPTIONS, type TrainOptions, type TrainSummary, type RunControl } from './train/train.js';
export { evaluate, type EvalReport, type EvaluateOptions } from './eval/evaluate.js';
export { metricsFromConfusion, Confusion, type Metrics, type ClassMetrics } from './eval/metrics.js';
export * from './io/onnx/index.js';
export * from './runtime/index.js';
export * from './viz/index.js';
export * from './detect/index.js';
export * from './pipeline/index.js';
