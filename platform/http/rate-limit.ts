// Rate limits with koa-ratelimit: in Redis (shared by every instance) when REDIS_URL is set, in
// process memory otherwise. When Redis fails, the request is counted in memory instead (each
// instance then limits on its own): limits keep protecting logins, requests never wait for a dead
// Redis, and the failure is reported (logged, onFailure, and the readiness check's ping fails).
import type { Context, Middleware } from 'koa';
import ratelimit from 'koa-ratelimit';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { HttpProblem } from './problem.ts';
import type { Counter } from '@opentelemetry/api';
import { meter } from '../telemetry.ts';
import type { ReadinessCheck } from './health.ts';
import type { AppState } from './state.ts';

export interface RateLimitBackend {
  readonly kind: 'redis' | 'memory';
  readonly redis?: Redis;
  /** Called when Redis fails and the request is counted in memory instead. */
  onFailure?(error: unknown): void;
}

export interface RateLimitOptions {
  /** Namespaces the counters, e.g. 'login-failures'; unique per limiter. */
  readonly name: string;
  readonly max: number;
  readonly durationMs: number;
  /** What to count by (IP, user id, login name); `false` or undefined skips limiting for this request. */
  readonly key: (ctx: Context) => string | false | undefined;
}

/** Builds a rate-limit middleware; modules get one from the composition root. */
export type RateLimitFactory = (options: RateLimitOptions) => Middleware;

export function memoryBackend(): RateLimitBackend {
  return { kind: 'memory' };
}

export function redisBackend(redis: Redis, onFailure?: (error: unknown) => void): RateLimitBackend {
  return { kind: 'redis', redis, ...(onFailure ? { onFailure } : {}) };
}

/**
 * A Redis client that fails fast instead of queueing: a rate limiter must never make a request
 * wait (no offline queue, one retry, short connect and command timeouts). It reconnects in the
 * background.
 */
export function createRateLimitRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let reported = false;
  redis.on('error', (error: Error) => {
    if (!reported) logger.warn({ err: error.message }, 'Redis unavailable: rate limits are counted in memory until it is back');
    reported = true;
  });
  redis.on('ready', () => {
    if (reported) logger.info('Redis is back: rate limits are shared again');
    reported = false;
  });
  return redis;
}

/** Readiness of the shared rate-limit store (only when REDIS_URL is configured). */
export function redisReadinessCheck(redis: Redis, name = 'redis'): ReadinessCheck {
  return {
    name,
    check: async () => {
      await redis.ping();
      return { rateLimits: 'redis' };
    },
  };
}

export function rateLimiterFactory(backend: RateLimitBackend): RateLimitFactory {
  return (options) => rateLimit(backend, options);
}

interface MemoryEntry {
  reset: number;
}

/** koa-ratelimit's memory driver never forgets a key; drop the expired ones now and then. */
function sweptMap(durationMs: number): Map<string, MemoryEntry> {
  const map = new Map<string, MemoryEntry>();
  const timer = setInterval(() => {
    const nowSeconds = Date.now() / 1000;
    for (const [key, entry] of map) if (entry.reset < nowSeconds) map.delete(key);
  }, Math.max(durationMs, 1_000));
  timer.unref();
  return map;
}

/** When the window resets, in epoch seconds (koa-ratelimit's memory driver gives fractions). */
function resetSeconds(ctx: Context): number {
  const reset = Number(ctx.response.get('X-RateLimit-Reset'));
  return Number.isFinite(reset) && reset > 0 ? reset : Date.now() / 1000;
}

/** 429s given, by limiter (shared with failure limits). */
let rejectionCounter: Counter | undefined;
export const rejections = (): Counter => (rejectionCounter ??= meter().createCounter('vialog.rate_limit.rejections', { description: 'Requests refused with 429, by limiter' }));

export function rateLimit(backend: RateLimitBackend, options: RateLimitOptions): Middleware {
  const common = {
    namespace: `vialog:ratelimit:${options.name}`,
    duration: options.durationMs,
    max: options.max,
    id: (ctx: Context) => options.key(ctx) ?? false,
  };
  const memory = ratelimit({ ...common, driver: 'memory', db: sweptMap(options.durationMs) });
  const redis = backend.kind === 'redis' && backend.redis ? ratelimit({ ...common, driver: 'redis', db: backend.redis }) : undefined;

  return async (ctx, next) => {
    let passed = false;
    const pass = async () => {
      passed = true;
      ctx.set('X-RateLimit-Reset', String(Math.ceil(resetSeconds(ctx)))); // whole epoch seconds
      await next();
    };
    // Only a connected (or lazily connecting) client is asked: a reconnecting one would make us wait.
    const status = backend.redis?.status;
    const limiters = redis && (status === 'ready' || status === 'wait') ? [redis, memory] : [memory];
    if (redis && limiters.length === 1) backend.onFailure?.(new Error(`Redis is ${backend.redis?.status}`));
    for (const limiter of limiters) {
      try {
        await limiter(ctx, pass);
        break;
      } catch (error) {
        if (passed || limiter === memory) throw error; // the route's own error, or a bug
        backend.onFailure?.(error);
        (ctx.state as AppState).log.warn({ err: error, limiter: options.name }, 'Redis rate limiter failed: counted in memory');
      }
    }
    if (!passed && ctx.status === 429) {
      rejections().add(1, { limiter: options.name });
      const reset = resetSeconds(ctx);
      const retryAfter = Math.min(Math.ceil(options.durationMs / 1000), Math.max(1, Math.ceil(reset - Date.now() / 1000)));
      throw new HttpProblem(429, 'rate_limited', `Too many requests: try again in ${retryAfter} s.`, {
        headers: {
          'Retry-After': String(retryAfter),
          'X-RateLimit-Limit': String(options.max),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.ceil(reset)),
        },
      });
    }
  };
}
