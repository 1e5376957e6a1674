/**
 * Training-mode batch normalisation as one differentiable op with a closed-form gradient, used by
 * tfjs-layers' BatchNormalization on the wasm backend.
 *
 * Stock tfjs-layers computes tf.moments, then FusedBatchNorm, and autodiff walks back through all
 * of it (mean, squared difference, broadcasts, and the gradients to mean and variance): about 15
 * full passes over the activation per layer and step. Here:
 *   forward:  mean, xc = x - mean, square, mean, y = xc * (gamma*rstd) + beta    (6 light passes)
 *   backward: dx = gamma*rstd * (dy - mean(dy) - xc*rstd^2*mean(dy*xc))         (7 light passes)
 * with every per-channel reduction done as a full-window average pool.
 *             dgamma = sum(dy*xc)*rstd, dbeta = sum(dy)
 * Moving statistics are updated exactly as tfjs-layers does (biased batch variance, momentum).
 * Other backends, inference mode and non-last-axis configurations run the stock layer code.
 */
import * as tf from '@tensorflow/tfjs';
import { simdBatchNorm, simdBatchNormTraining } from './simd/batchnorm.js';

interface BNLayer {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/**
 * Per-channel sums over batch and space of an NHWC tensor, as [C]. A full-window average pool
 * (XNNPACK) then a sum over the small [B, C] result: ~5x faster on wasm than Sum over axes [0, 1, 2],
 * which transposes the whole tensor first.
 */
function channelSums(t: tf.Tensor4D): tf.Tensor1D {
  const [b, h, w, c] = t.shape;
  const pooled = tf.reshape(tf.avgPool(t, [h, w], 1, 'valid'), [b, c]);
  return tf.mul(tf.sum(pooled, 0), h * w) as tf.Tensor1D;
}

/** y = batchnorm(x) with batch statistics over all axes but the last; returns y, mean, variance. */
export function batchNormTraining(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const channels = x.shape[3];
  const simd = simdBatchNorm(channels);
  if (simd) return simdBatchNormTraining(simd, x, gamma, beta, epsilon);
  const count = x.size / channels;
  const stats: { mean?: tf.Tensor1D; variance?: tf.Tensor1D } = {};
  const op = tf.customGrad(((xIn: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = tf.div(channelSums(xIn), count) as tf.Tensor1D;
    const xc = tf.sub(xIn, mean) as tf.Tensor4D;
    const variance = tf.div(channelSums(tf.square(xc)), count) as tf.Tensor1D;
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const y = tf.add(tf.mul(xc, tf.mul(rstd, g)), b);
    stats.mean = tf.keep(mean);
    stats.variance = tf.keep(variance);
    save([xc, rstd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xcS, rstdS, gS] = saved;
        const d = dy as tf.Tensor4D;
        const sumDy = channelSums(d);
        const sumDyXc = channelSums(tf.mul(d, xcS) as tf.Tensor4D);
        const k = tf.mul(gS, rstdS);
        // dx = k * (dy - sum(dy)/N - xc * rstd^2 * sum(dy*xc)/N)
        const c1 = tf.mul(tf.square(rstdS), tf.div(sumDyXc, -count));
        const c2 = tf.mul(k, tf.div(sumDy, -count));
        const dx = tf.add(tf.mul(tf.add(d, tf.mul(xcS, c1)), k), c2);
        return [dx, tf.mul(sumDyXc, rstdS), sumDy];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta);
  return { y, mean: stats.mean as tf.Tensor1D, variance: stats.variance as tf.Tensor1D };
}

let installed = false;

/** Route tfjs-layers BatchNormalization's training path through batchNormTraining on wasm (idempotent). */
export function installFusedBatchNorm(): void {
  if (installed) return;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization as unknown as
    [{ prototype: { call: (...args: never[]) => unknown } }] | undefined;
  if (!entry) return;
  installed = true;
  const proto = entry[0].prototype;
  const stockCall = proto.call as (this: BNLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;
  proto.call = function (this: BNLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = x.rank === 4 && (this.axis === -1 || this.axis === 3);
    if (!kwargs?.training || tf.getBackend() !== 'wasm' || !lastAxis || !this.gamma || !this.beta || (Array.isArray(inputs) && inputs.length !== 1)) {
      return stockCall.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x as tf.Tensor4D, this.gamma!.read(), this.beta!.read(), this.epsilon);
      const decay = 1 - this.momentum;
      for (const [v, value] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const orig = v.read();
          v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  };
}
