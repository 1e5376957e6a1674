import * as tf from '@tensorflow/tfjs';

/**
 * Replace every kernel by seeded Glorot-uniform values (the layers' own initialiser is unseeded), so
 * fixtures and what tests measure on them (e.g. a Grad-CAM map that a random head could leave empty,
 * or whether 200 training steps converge) are the same on every run.
 */
export function seedKernels(model: tf.LayersModel, seed: number): void {
  const values = model.weights.map((w, i) => {
    const shape = w.shape as number[];
    if (!/kernel/.test(w.name)) return w.read().clone();
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const fanIn = receptive * shape[shape.length - 2];
    const fanOut = receptive * shape[shape.length - 1];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return tf.randomUniform(shape, -limit, limit, 'float32', seed * 1000 + i);
  });
  model.setWeights(values);
  tf.dispose(values);
}
