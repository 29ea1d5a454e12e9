// Counts failures per key (e.g. failed password checks per account) in a fixed window, in Redis
// when the rate-limit backend has it (shared by every instance), in memory otherwise or while
// Redis is down. Unlike koa-ratelimit, only failures count: a user who logs in correctly is never
// slowed down.
//
// reserve() counts an attempt before the work it guards (an argon2 check) and refuses once the
// window holds `max`: the count and the decision are one atomic step (INCR), so parallel attempts
// cannot all pass a check made before any of them was counted. What did not fail gives its
// attempt back (release) or clears the key (succeeded).
import { limitReachedHeaders, rejections, type RateLimitBackend } from './rate-limit.ts';
import { HttpProblem } from './problem.ts';

/** One attempt counted ahead of the work it guards. */
export interface FailureReservation {
  /** The attempt succeeded: forget the key's failures (e.g. the right password). */
  succeeded(): Promise<void>;
  /** The attempt was not a failure after all (another error): give it back, keep the others. */
  release(): Promise<void>;
}

export interface FailureLimit {
  /**
   * Counts an attempt now, before it is made; throws 429 rate_limited (with Retry-After and
   * X-RateLimit-*) when the window already held `max`. An attempt neither succeeded nor released
   * stays counted as a failure.
   */
  reserve(key: string): Promise<FailureReservation>;
  /** Forgets the key's failures (after a success). */
  reset(key: string): Promise<void>;
}

export interface FailureLimitOptions {
  readonly name: string;
  readonly max: number;
  readonly windowMs: number;
}

/** DECR, but only of a counter that still exists (one that expired stays gone). */
const DECREMENT_EXISTING = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0";

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
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [key, w] of memory) if (w.resetAt <= now) memory.delete(key);
    },
    Math.max(options.windowMs, 1_000),
  );
  sweep.unref();

  const memoryWindow = (key: string): Window | undefined => {
    const w = memory.get(key);
    if (w && w.resetAt <= Date.now()) {
      memory.delete(key);
      return undefined;
    }
    return w;
  };

  const refuse = (resetInMs: number): never => {
    rejections().add(1, { limiter: options.name });
    const retryAfter = Math.max(1, Math.ceil(resetInMs / 1000));
    const limit = { policy: options.name, max: options.max, windowMs: options.windowMs };
    throw new HttpProblem(429, 'rate_limited', `Too many failed attempts: try again in ${retryAfter} s.`, {
      headers: limitReachedHeaders({ ...limit, resetMs: Date.now() + resetInMs, retryAfterSeconds: retryAfter }),
    });
  };

  /** Counts one attempt; the count after it, milliseconds until the window resets, and where it was counted. */
  const increment = async (key: string): Promise<{ count: number; resetInMs: number; inRedis: boolean }> => {
    const client = redis();
    if (client) {
      try {
        // NX: the window starts at the first attempt and is not extended by later ones.
        const k = redisKey(key);
        const results = await client.multi().incr(k).pexpire(k, options.windowMs, 'NX').pttl(k).exec();
        const [count, , ttl] = (results ?? []).map(([error, value]) => {
          if (error) throw error;
          return value;
        });
        const resetInMs = typeof ttl === 'number' && ttl > 0 ? ttl : options.windowMs;
        return { count: Number(count), resetInMs, inRedis: true };
      } catch (error) {
        backend.onFailure?.(error);
      }
    }
    let w = memoryWindow(key);
    if (w) w.count += 1;
    else memory.set(key, (w = { count: 1, resetAt: Date.now() + options.windowMs }));
    return { count: w.count, resetInMs: w.resetAt - Date.now(), inRedis: false };
  };

  const decrement = async (key: string, inRedis: boolean): Promise<void> => {
    if (!inRedis) {
      const w = memoryWindow(key);
      if (w && w.count > 0) w.count -= 1;
      return;
    }
    const client = redis();
    if (!client) return;
    // Only an existing counter: a DECR after the window ended would leave a counter without expiry.
    await client.eval(DECREMENT_EXISTING, 1, redisKey(key)).catch((error: unknown) => backend.onFailure?.(error));
  };

  const reset = async (key: string): Promise<void> => {
    memory.delete(key);
    const client = redis();
    if (client) await client.del(redisKey(key)).catch((error: unknown) => backend.onFailure?.(error));
  };

  return {
    async reserve(key) {
      const { count, resetInMs, inRedis } = await increment(key);
      if (count > options.max) refuse(resetInMs);
      let settled = false;
      const once = (work: () => Promise<void>) => async () => {
        if (settled) return;
        settled = true;
        await work();
      };
      return { succeeded: once(() => reset(key)), release: once(() => decrement(key, inRedis)) };
    },
    reset,
  };
}
