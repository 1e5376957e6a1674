import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SharedGradients, StepAbortedError } from '../../src/engine/allreduce.js';
import { averageShards } from '../../src/engine/shards.js';

const MODULE = new URL('../../src/engine/allreduce.js', import.meta.url).href;

/** A thread that writes its slot, waits at the barrier and posts the average it computed (or the error). */
function peer(buffer: SharedArrayBuffer, index: number, n: number, values: number[]): Worker {
  const code = `
    const { parentPort, workerData: d } = require('node:worker_threads');
    import(d.module).then(({ SharedGradients }) => {
      const s = new SharedGradients(d.buffer, 2, 3, 2);
      s.write(d.index, d.n, Float32Array.from(d.values.slice(0, 3)), Float32Array.from(d.values.slice(3)));
      try { s.barrier(); parentPort.postMessage({ avg: s.average() }); }
      catch (e) { parentPort.postMessage({ error: e.constructor.name + ': ' + e.message }); }
    });`;
  return new Worker(code, { eval: true, workerData: { module: MODULE, buffer, index, n, values } });
}

const reply = (w: Worker) => new Promise<{ avg?: { grads: Float32Array; state: Float32Array }; error?: string }>((resolve) => w.once('message', resolve));

test('workers meet at the barrier and compute the same shard-weighted average', async () => {
  const shared = SharedGradients.create(2, 3, 2);
  for (let step = 0; step < 3; step++) {
    const a = [1, 2, 3, 10, 20].map((v) => v + step);
    const b = [5, 6, 7, 30, 40].map((v) => v * (step + 1));
    const ws = [peer(shared.buffer, 0, 4, a), peer(shared.buffer, 1, 2, b)];
    const [ra, rb] = await Promise.all(ws.map(reply));
    const expected = averageShards([
      { n: 4, grads: Float32Array.from(a.slice(0, 3)), state: Float32Array.from(a.slice(3)) },
      { n: 2, grads: Float32Array.from(b.slice(0, 3)), state: Float32Array.from(b.slice(3)) },
    ]);
    assert.deepEqual(ra.avg, expected);
    assert.deepEqual(rb.avg, expected, 'bit-identical on every worker');
    await Promise.all(ws.map((w) => w.terminate()));
  }
});

test('a failed worker releases its peers from the barrier instead of leaving them waiting', async () => {
  const shared = SharedGradients.create(2, 3, 2);
  const w = peer(shared.buffer, 0, 1, [1, 2, 3, 4, 5]);
  const r = reply(w);
  await new Promise((resolve) => setTimeout(resolve, 100));
  shared.abort(); // what a worker does when its shard fails, and the trainer when a worker dies
  assert.match((await r).error ?? '', /StepAbortedError: .*another worker failed/);
  await w.terminate();
  assert.throws(() => shared.barrier(), StepAbortedError, 'stays aborted until reset');
  shared.reset();
  // After reset, a full step works again.
  const ws = [peer(shared.buffer, 0, 1, [1, 1, 1, 1, 1]), peer(shared.buffer, 1, 1, [3, 3, 3, 3, 3])];
  const outs = await Promise.all(ws.map(reply));
  for (const o of outs) assert.deepEqual(Array.from(o.avg!.grads), [2, 2, 2]);
  await Promise.all(ws.map((x) => x.terminate()));
});

test('a worker without samples contributes nothing; sizes are checked', () => {
  const shared = SharedGradients.create(2, 3, 2);
  shared.write(0, 2, Float32Array.of(NaN, NaN, NaN), Float32Array.of(NaN, NaN));
  shared.write(0, 0, undefined, undefined);
  shared.write(1, 3, Float32Array.of(0, 1, 2), Float32Array.of(3, 4));
  // Slot 0 now holds no samples: its stale values (NaN here) are ignored.
  assert.deepEqual(Array.from(shared.average().grads), [0, 1, 2]);
  assert.deepEqual(Array.from(shared.average().state), [3, 4]);
  shared.write(1, 0, undefined, undefined);
  assert.throws(() => shared.average(), /no worker had samples/);
  assert.throws(() => shared.write(0, 1, new Float32Array(2), new Float32Array(2)), /wrong size/);
  assert.throws(() => new SharedGradients(new SharedArrayBuffer(8), 2, 3, 2), /needs/);
});
