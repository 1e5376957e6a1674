export * from './blocks.js';
export * from './zoo.js';
export * from './cost.js';
export * from './model-bench.js';
export * from './ensemble.js';
