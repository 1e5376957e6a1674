/** `facecls worker` processes for the batch tests, and the CLI pointed at a test Redis. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { projectRoot } from '../../src/data/paths.js';
import { runCli, type CliResult } from '../helpers/cli.js';

export interface WorkerProc {
  proc: ChildProcess;
  stderr: () => string;
  /** Resolves once the worker said it is ready. */
  ready: Promise<void>;
  /** Exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];

/** SIGKILL every worker a test started that is still running (call in after()). */
export function killWorkers(): void {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

export function startWorkerProc(redisUrl: string, args: string[] = [], env: Record<string, string> = {}): WorkerProc {
  const bin = path.join(projectRoot(), 'bin', 'facecls.js');
  const proc = spawn(process.execPath, [bin, 'worker', '--redis', redisUrl, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  started.push(proc);
  let err = '';
  const ready = new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('facecls worker: ready')) resolve();
    });
    proc.once('exit', () => reject(new Error(`worker exited before it was ready: ${err}`)));
  });
  ready.catch(() => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const kill = () => proc.kill('SIGKILL');
  process.on('exit', kill);
  void exited.then(() => process.off('exit', kill));
  return { proc, stderr: () => err, ready, exited };
}

export function batchCli(redisUrl: string, args: string[], opts: { input?: string } = {}): CliResult {
  return runCli(args, { env: { FACECLS_REDIS: redisUrl }, input: opts.input });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until fn returns true (or throw after timeoutMs). */
export async function until(fn: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
