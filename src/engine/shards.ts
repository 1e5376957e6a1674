/** How a batch is split between data-parallel replicas and how their gradients are combined. */

/** Split n samples into at most k contiguous shards of near-equal size: [start, count][]. */
export function shardRanges(n: number, k: number): Array<[number, number]> {
  const shards = Math.max(1, Math.min(n, k));
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < shards; i++) {
    const count = Math.floor(n / shards) + (i < n % shards ? 1 : 0);
    out.push([start, count]);
    start += count;
  }
  return out;
}

/**
 * Shard-size-weighted average of shard gradients (each the gradient of its shard's mean loss, so the
 * result is the gradient of the whole batch's mean loss) and of the post-step batch-norm statistics.
 */
export function averageShards(parts: Array<{ n: number; grads: Float32Array; state: Float32Array }>): { grads: Float32Array; state: Float32Array } {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const grads = new Float32Array(parts[0].grads.length);
  const state = new Float32Array(parts[0].state.length);
  for (const p of parts) {
    const w = p.n / n;
    for (let i = 0; i < grads.length; i++) grads[i] += w * p.grads[i];
    for (let i = 0; i < state.length; i++) state[i] += w * p.state[i];
  }
  return { grads, state };
}
