/**
 * Denormal (subnormal) float32 weights: values below 2^-126 in magnitude. Training with L2 and Adam
 * can leave many weights there; they change no output measurably but make x86 arithmetic on them
 * 10-30x slower (wasm has no flush-to-zero mode). Saved and exported weights are flushed to zero.
 */
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/** Replace denormal values by (signless) zero, in place; returns how many were replaced. */
export function flushDenormals(values: Float32Array): number {
  let flushed = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== 0 && v < FLOAT32_MIN_NORMAL && v > -FLOAT32_MIN_NORMAL) {
      values[i] = 0;
      flushed++;
    }
  }
  return flushed;
}
