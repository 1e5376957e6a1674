/**
 * The one core of every front end (library, CLI, server, batch, video, saliency, the browser package):
 * result types, the crop rule, the classification step (crops -> preprocessing -> runtime with its
 * TTA -> labels) and the drawing. No Node imports.
 */
export * from './types.js';
export * from './colours.js';
export * from './crop.js';
export * from './age.js';
export * from './classify.js';
export * from './draw.js';
