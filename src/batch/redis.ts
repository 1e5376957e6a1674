/**
 * Where the batch queue lives: a Redis server named by `--redis <url>`, else the environment variable
 * FACECLS_REDIS, else redis://127.0.0.1:6379. Commands that talk to Redis once (submit, status,
 * results) fail fast with one line when it cannot be reached; workers keep reconnecting (BullMQ's
 * connections retry forever: Redis being briefly unavailable is a transient failure).
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { UserError, errorMessage } from '../errors.js';
import { settings } from '../settings.js';

export const REDIS_ENV = 'FACECLS_REDIS';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const REDIS_OPTION_HELP = `Redis server URL (redis://[user:password@]host:port[/db], rediss:// for TLS); default env ${REDIS_ENV}, else ${DEFAULT_REDIS_URL}`;

/**
 * The Redis URL to use: the option, else env FACECLS_REDIS, else the default; checked. `optionName`
 * names the option in errors (the CLI passes its flag).
 */
export function redisUrl(option?: string, optionName = 'the Redis URL'): string {
  const url = option ?? settings.redisUrl() ?? DEFAULT_REDIS_URL;
  const name = option !== undefined ? optionName : `environment variable ${REDIS_ENV}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${name} must be a URL like redis://host:6379, got "${url}"`, {
      reason: option !== undefined ? 'invalid-argument' : 'invalid-setting',
    });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new UserError(`${name} must be a redis:// or rediss:// URL, got "${url}"`, { reason: option !== undefined ? 'invalid-argument' : 'invalid-setting' });
  return url;
}

/** Connection options for BullMQ (which opens its own connections) from a URL. */
export function bullConnection(url: string, worker: boolean): BullRedisOptions {
  // Workers: BullMQ requires maxRetriesPerRequest null for blocking commands; commands wait for a
  // reconnect instead of failing. Clients (submit, status): fail a command after a few retries.
  return worker ? { url, maxRetriesPerRequest: null } : { url, maxRetriesPerRequest: 3, connectTimeout: 5_000 };
}

/** A plain connection for our own keys; rejects with a one-line UserError when Redis is unreachable. */
export async function connectRedis(url: string, opts: { worker?: boolean } = {}): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: opts.worker ? null : 3,
    // Clients give up after a few attempts; workers retry forever (at most every 2 s).
    retryStrategy: (times) => (opts.worker ? Math.min(times * 200, 2_000) : times > 3 ? null : 200),
  });
  let lastError: unknown;
  redis.on('error', (err) => (lastError = err)); // reported through the failing command instead
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new UserError(`cannot reach Redis at ${redactUrl(url)}: ${errorMessage(lastError ?? err)}`, { reason: 'unreachable' });
  }
  return redis;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
