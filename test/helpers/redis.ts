/**
 * A private redis-server per test file (src/batch/redis-server.ts); tests skip where Debian's
 * redis-server is not installed (CI installs it: .ci/run).
 */
import { hasRedisServer, REDIS_SERVER, startPrivateRedis, type PrivateRedis } from '../../src/batch/redis-server.js';

export type TestRedis = PrivateRedis;
export const startRedis = () => startPrivateRedis();

/** Why Redis tests skip, or false when redis-server can run. */
export function redisSkip(): string | false {
  return hasRedisServer() ? false : `${REDIS_SERVER} not installed (apt-get install redis-server): skipped`;
}
