/**
 * A private redis-server for a test file: started on a free port with no persistence, stopped at
 * the end (and killed if the test process exits first). Tests skip where Debian's redis-server is
 * not installed (CI installs it: .ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { Redis } from 'ioredis';
import { tmpDir } from './tmp.js';

export const REDIS_SERVER = process.env.FACECLS_REDIS_SERVER ?? 'redis-server';

/** Why Redis tests skip, or false when redis-server can run. */
export function redisSkip(): string | false {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? false : `${REDIS_SERVER} not installed (apt-get install redis-server): skipped`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  proc: ChildProcess;
  /** A client for assertions (closed by stop()). */
  client: Redis;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = tmpDir('facecls-redis-');
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const kill = () => proc.kill('SIGKILL');
  process.on('exit', kill);
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (err) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`redis-server did not start on port ${port}: ${String(err)}`);
      client.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    proc,
    client,
    stop: async () => {
      client.disconnect();
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      process.off('exit', kill);
    },
  };
}
