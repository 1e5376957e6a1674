import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { projectRoot } from '../../src/data/paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real `facecls` binary in a child process. */
export function runCli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): CliResult {
  const bin = path.join(projectRoot(), 'bin', 'facecls.js');
  const r = spawnSync(process.execPath, [bin, ...args], {
    input: opts.input,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    cwd: opts.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
