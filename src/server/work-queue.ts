/**
 * Admission control for inference work: at most `concurrency` jobs run at once and at most `maxQueued`
 * more are admitted to wait, and a job that cannot finish within `timeoutMs` of its admission (waiting
 * included) is refused. Overload is answered at once (503 + Retry-After) instead of letting latency
 * grow without bound.
 *
 * Admission is a separate step (`admit()`, a Ticket) taken before anything is read: the server admits a
 * request when its headers arrive, so a request over the limit is refused without its body being read
 * or decoded, and the body of an admitted one is read while it waits. Decoding happens in the job, once
 * a slot is free, so decoded pixels exist for at most `concurrency` requests at a time.
 *
 * A job past its time limit is told so through its AbortSignal, so work that can be cancelled (a worker
 * thread) stops and frees its slot instead of computing an answer nobody will read.
 */
import { HttpError } from './http-error.js';

export interface WorkQueueOptions {
  /** Jobs running at the same time. */
  concurrency: number;
  /** Requests admitted beyond the running ones (reading their body or waiting for a slot); more are refused with 503. */
  maxQueued: number;
  /** Longest time from admission to result, body upload and waiting included. */
  timeoutMs: number;
}

/** A place in the queue, held from admission until the job ends or the ticket is cancelled. */
export interface Ticket {
  /** Wait for a slot, then run `job`; rejects with 503 when the time limit (from admission) passes. */
  run<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Give the place back if the job never started (bad body, client gone). Idempotent; no-op once started. */
  cancel(): void;
  /** When the ticket was issued (Date.now()). */
  readonly admitted: number;
}

interface Waiter {
  start: () => void;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  readonly opts: WorkQueueOptions;
  private running = 0;
  /** Admitted tickets whose job has not started (reading the body or waiting for a slot). */
  private pending = 0;
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

  /** Admitted requests not yet running: reading their body or waiting for a slot. */
  get queued(): number {
    return this.pending;
  }

  /** Seconds a refused client should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    const backlog = (this.pending + this.running) / this.opts.concurrency;
    return Math.max(1, Math.ceil((backlog * this.meanMs) / 1000));
  }

  private busy(message: string): HttpError {
    return new HttpError(503, 'overloaded', message, { 'retry-after': String(this.retryAfterSeconds()) });
  }

  /** True when a new request would be refused. */
  get full(): boolean {
    return this.running + this.pending >= this.opts.concurrency + this.opts.maxQueued;
  }

  /**
   * Admit a request (before its body is read): a Ticket, or a 503 HttpError with Retry-After when
   * `concurrency + maxQueued` requests are already admitted.
   */
  admit(): Ticket {
    if (this.full) {
      this.rejected++;
      throw this.busy(`server busy: ${this.running} requests running and ${this.pending} queued (limit ${this.opts.maxQueued}); retry later`);
    }
    this.pending++;
    const admitted = Date.now();
    let state: 'pending' | 'started' | 'cancelled' = 'pending';
    let waiter: (Waiter & { reject: (e: Error) => void }) | undefined;
    const leave = (): void => {
      if (state !== 'pending') return;
      state = 'cancelled';
      this.pending--;
      if (waiter) {
        clearTimeout(waiter.timer);
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
      }
    };
    return {
      admitted,
      cancel: () => {
        const w = state === 'pending' ? waiter : undefined;
        leave();
        w?.reject(new HttpError(499, 'client_closed', 'the client closed the request before it could run'));
      },
      run: async <T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> => {
        if (state !== 'pending' || waiter) throw new Error('ticket already used or cancelled');
        const remaining = () => this.opts.timeoutMs - (Date.now() - admitted);
        if (remaining() <= 0) {
          leave();
          this.timedOut++;
          throw this.busy(`request exceeded the ${this.opts.timeoutMs} ms time limit before it could run (slow upload); retry later`);
        }
        if (this.running >= this.opts.concurrency) {
          await new Promise<void>((resolve, reject) => {
            const w: Waiter & { reject: (e: Error) => void } = {
              reject,
              start: () => {
                clearTimeout(w.timer);
                resolve();
              },
              timer: setTimeout(() => {
                leave();
                this.timedOut++;
                reject(this.busy(`request waited ${this.opts.timeoutMs} ms for a free worker (time limit); retry later`));
              }, remaining()),
            };
            waiter = w;
            this.waiting.push(w);
          });
          // The slot was handed over by release(): running already counts it.
        } else {
          this.running++;
        }
        state = 'started';
        this.pending--;
        return this.execute(job, remaining());
      },
    };
  }

  /** Admit and run in one step (a 503 when full). */
  async run<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.admit().run(job);
  }

  private async execute<T>(job: (signal: AbortSignal) => Promise<T>, remainingMs: number): Promise<T> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const abort = new AbortController();
    const work = (async () => job(abort.signal))();
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => {
              this.timedOut++;
              const e = this.busy(`request exceeded the ${this.opts.timeoutMs} ms time limit`);
              reject(e);
              abort.abort(e);
            },
            Math.max(1, remainingMs),
          );
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

  /** Resolves when nothing runs, waits or is admitted (used by graceful shutdown). */
  async drain(): Promise<void> {
    while (this.running > 0 || this.pending > 0) await new Promise((r) => setTimeout(r, 10));
  }
}
