import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from '../../src/server/http-error.js';
import { WorkQueue } from '../../src/server/work-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('admission counts a ticket from admit() until its job ends or it is cancelled; over the limit is a 503', async () => {
  const q = new WorkQueue({ concurrency: 1, maxQueued: 2, timeoutMs: 5_000 });
  const a = q.admit();
  const b = q.admit();
  const c = q.admit();
  assert.equal(q.queued, 3);
  assert.ok(q.full);
  assert.throws(
    () => q.admit(),
    (e: HttpError) => e.statusCode === 503 && e.code === 'overloaded' && Number(e.headers['retry-after']) >= 1,
  );
  assert.equal(q.rejected, 1);
  // A ticket whose body never arrives gives its place back.
  b.cancel();
  b.cancel();
  assert.equal(q.queued, 2);
  let release!: () => void;
  const ra = a.run(() => new Promise<string>((r) => (release = () => r('a'))));
  await sleep(5);
  assert.deepEqual([q.active, q.queued], [1, 1]);
  const rc = c.run(async () => 'c');
  await sleep(5);
  assert.deepEqual([q.active, q.queued], [1, 1], 'c waits for the slot');
  release();
  assert.deepEqual(await Promise.all([ra, rc]), ['a', 'c']);
  await sleep(5);
  assert.deepEqual([q.active, q.queued, q.completed], [0, 0, 2]);
  await assert.rejects(
    c.run(async () => 'again'),
    /already used/,
  );
});

test('a waiting ticket cancelled by its client leaves the line; the time limit counts from admission', async () => {
  const q = new WorkQueue({ concurrency: 1, maxQueued: 4, timeoutMs: 150 });
  let release!: () => void;
  const running = q.run(() => new Promise<void>((r) => (release = r)));
  running.catch(() => undefined); // it outlives the 150 ms limit: its client got a 503
  const waiting = q.admit();
  const w = waiting.run(async () => 'never');
  await sleep(5);
  waiting.cancel();
  await assert.rejects(w, (e: HttpError) => e.statusCode === 499);
  assert.equal(q.queued, 0);
  // Admitted, then a slow upload of 200 ms: past the 150 ms limit before it could run.
  const slow = q.admit();
  await sleep(200);
  await assert.rejects(
    slow.run(async () => 'late'),
    (e: HttpError) => e.statusCode === 503 && /before it could run/.test(e.message),
  );
  assert.equal(q.queued, 0);
  release();
  await running.catch(() => undefined);
  await q.drain();
});
