// Counts failures per key (e.g. failed logins per login name) in a fixed window, in Redis when the
// rate-limit backend has it (shared by every instance), in memory otherwise or while Redis is down.
// Unlike koa-ratelimit, only failures count: a user who logs in correctly is never slowed down.
import { limitReachedHeaders, rejections, type RateLimitBackend } from './rate-limit.ts';
import { HttpProblem } from './problem.ts';

export interface FailureLimit {
  /** Throws 429 rate_limited (with Retry-After) when the key already has `max` failures in the window. */
  check(key: string): Promise<void>;
  /** Counts one failure for the key. */
  record(key: string): Promise<void>;
  /** Forgets the key's failures (after a success). */
  reset(key: string): Promise<void>;
}

export interface FailureLimitOptions {
  readonly name: string;
  readonly max: number;
  readonly windowMs: number;
}

interface Window {
  count: number;
  resetAt: number;
}

export function failureLimit(backend: RateLimitBackend, options: FailureLimitOptions): FailureLimit {
  const memory = new Map<string, Window>();
  const redisKey = (key: string) => `vialog:failures:${options.name}:${key}`;
  const redis = () => {
    const client = backend.redis;
    return client && (client.status === 'ready' || client.status === 'wait') ? client : undefined;
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, w] of memory) if (w.resetAt <= now) memory.delete(key);
  }, Math.max(options.windowMs, 1_000));
  sweep.unref();

  const memoryWindow = (key: string): Window | undefined => {
    const w = memory.get(key);
    if (w && w.resetAt <= Date.now()) {
      memory.delete(key);
      return undefined;
    }
    return w;
  };

  /** Failures so far and milliseconds until the window resets. */
  const read = async (key: string): Promise<{ count: number; resetInMs: number }> => {
    const client = redis();
    if (client) {
      try {
        const [count, ttl] = await client.multi().get(redisKey(key)).pttl(redisKey(key)).exec().then((r) => (r ?? []).map(([, v]) => v));
        return { count: Number(count ?? 0), resetInMs: typeof ttl === 'number' && ttl > 0 ? ttl : options.windowMs };
      } catch (error) {
        backend.onFailure?.(error);
      }
    }
    const w = memoryWindow(key);
    return w ? { count: w.count, resetInMs: w.resetAt - Date.now() } : { count: 0, resetInMs: options.windowMs };
  };

  return {
    async check(key) {
      const { count, resetInMs } = await read(key);
      if (count < options.max) return;
      rejections().add(1, { limiter: options.name });
      const retryAfter = Math.max(1, Math.ceil(resetInMs / 1000));
      throw new HttpProblem(429, 'rate_limited', `Too many failed attempts: try again in ${retryAfter} s.`, {
        headers: limitReachedHeaders({ policy: options.name, max: options.max, windowMs: options.windowMs, resetMs: Date.now() + resetInMs, retryAfterSeconds: retryAfter }),
      });
    },
    async record(key) {
      const client = redis();
      if (client) {
        try {
          // NX: the window starts at the first failure and is not extended by later ones.
          await client.multi().incr(redisKey(key)).pexpire(redisKey(key), options.windowMs, 'NX').exec();
          return;
        } catch (error) {
          backend.onFailure?.(error);
        }
      }
      const w = memoryWindow(key);
      if (w) w.count += 1;
      else memory.set(key, { count: 1, resetAt: Date.now() + options.windowMs });
    },
    async reset(key) {
      memory.delete(key);
      const client = redis();
      if (client) await client.del(redisKey(key)).catch((error: unknown) => backend.onFailure?.(error));
    },
  };
}
