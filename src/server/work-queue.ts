/**
 * Admission control for inference work: at most `concurrency` jobs run at once, at most `maxQueued`
 * wait, and a job that cannot finish within `timeoutMs` (waiting included) is refused. Overload is
 * answered at once (503 + Retry-After) instead of letting latency grow without bound. A job past its
 * time limit is also told so through its AbortSignal, so work that can be cancelled (a worker thread)
 * stops and frees its slot instead of computing an answer nobody will read.
 */
import { HttpError } from './http-error.js';

export interface WorkQueueOptions {
  /** Jobs running at the same time. */
  concurrency: number;
  /** Jobs allowed to wait for a slot; more are refused with 503. */
  maxQueued: number;
  /** Longest time a job may take from admission to result, waiting included. */
  timeoutMs: number;
}

interface Waiter {
  start: () => void;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  readonly opts: WorkQueueOptions;
  private running = 0;
  private readonly waiting: Waiter[] = [];
  /** Mean service time (ms), used for Retry-After hints. */
  private meanMs = 100;
  completed = 0;
  rejected = 0;
  timedOut = 0;

  constructor(opts: WorkQueueOptions) {
    if (!(opts.concurrency >= 1)) throw new Error('concurrency must be >= 1');
    this.opts = opts;
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Seconds a refused client should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    const backlog = (this.waiting.length + this.running) / this.opts.concurrency;
    return Math.max(1, Math.ceil((backlog * this.meanMs) / 1000));
  }

  private busy(message: string): HttpError {
    return new HttpError(503, 'overloaded', message, { 'retry-after': String(this.retryAfterSeconds()) });
  }

  /**
   * Run `job` when a slot is free; rejects with 503 when the queue is full or the time limit passes,
   * and then aborts the job's signal.
   */
  async run<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const admitted = Date.now();
    if (this.running >= this.opts.concurrency) {
      if (this.waiting.length >= this.opts.maxQueued) {
        this.rejected++;
        throw this.busy(`server busy: ${this.running} requests running and ${this.waiting.length} queued (limit ${this.opts.maxQueued}); retry later`);
      }
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          start: () => {
            clearTimeout(waiter.timer);
            resolve();
          },
          timer: setTimeout(() => {
            const i = this.waiting.indexOf(waiter);
            if (i >= 0) this.waiting.splice(i, 1);
            this.timedOut++;
            reject(this.busy(`request waited ${this.opts.timeoutMs} ms for a free worker (time limit); retry later`));
          }, this.opts.timeoutMs),
        };
        this.waiting.push(waiter);
      });
    } else {
      this.running++;
    }
    // A slot is ours (either taken above or handed over by the previous job in release()).
    const started = Date.now();
    const remaining = this.opts.timeoutMs - (started - admitted);
    let timer: NodeJS.Timeout | undefined;
    const abort = new AbortController();
    const work = job(abort.signal);
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            this.timedOut++;
            const e = this.busy(`request exceeded the ${this.opts.timeoutMs} ms time limit`);
            reject(e);
            abort.abort(e);
          }, Math.max(1, remaining));
        }),
      ]);
    } finally {
      clearTimeout(timer);
      // The slot is released only when the work really ends, even if the client already got a 503.
      work.then(
        () => this.release(started),
        () => this.release(started),
      );
    }
  }

  private release(started: number): void {
    this.completed++;
    this.meanMs = 0.9 * this.meanMs + 0.1 * (Date.now() - started);
    const next = this.waiting.shift();
    if (next) next.start();
    else this.running--;
  }

  /** Resolves when nothing runs or waits (used by graceful shutdown). */
  async drain(): Promise<void> {
    while (this.running > 0 || this.waiting.length > 0) await new Promise((r) => setTimeout(r, 10));
  }
}
