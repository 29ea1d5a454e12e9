// Rate limits: in Redis through koa-ratelimit (shared by every instance) when REDIS_URL is set, in
// process memory otherwise (a fixed window per key, as koa-ratelimit's memory driver counts). When
// Redis fails, the request is counted in memory instead (each instance then limits on its own):
// limits keep protecting logins, requests never wait for a dead Redis, and the failure is reported
// (logged, onFailure, and the readiness check's ping fails).
import { isIPv4, isIPv6 } from 'node:net';
import type { Context, Middleware, Next } from 'koa';
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

/**
 * The bucket per-IP limits count a client address in: an IPv4 address as it is, an IPv6 address
 * by its /64 (one subscriber's network: a host picks any of its 2^64 addresses at will), an
 * IPv4-mapped IPv6 address as its IPv4 address.
 */
export function ipBucket(ip: string): string {
  const address = ip.split('%')[0]!.toLowerCase(); // no zone id (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(address)) return address.slice(0, 64) || 'unknown';
  // Expand "::" to the missing groups; an embedded IPv4 tail lies past the first 64 bits.
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const width = (g: string[]) => g.reduce((n, x) => n + (x.includes('.') ? 2 : 1), 0);
  const all =
    tail === undefined ? left : [...left, ...Array<string>(8 - width(left) - width(right)).fill('0'), ...right];
  return `${all
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

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
    if (!reported)
      logger.warn({ err: error.message }, 'Redis unavailable: rate limits are counted in memory until it is back');
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

/** One key's fixed window: requests left in it and when it ends (epoch ms). */
interface Window {
  remaining: number;
  resetMs: number;
}

/**
 * The in-memory count, with koa-ratelimit's memory-driver semantics: a fixed window opened by a
 * key's first request, `max` requests per window. Expired windows are dropped now and then, so
 * keys never pile up.
 */
class MemoryWindows {
  readonly #windows = new Map<string, Window>();
  readonly #max: number;
  readonly #durationMs: number;
  constructor(max: number, durationMs: number) {
    this.#max = max;
    this.#durationMs = durationMs;
    const timer = setInterval(() => this.#dropExpired(), Math.max(durationMs, 1_000));
    timer.unref();
  }

  /** Counts a request; the window after it (remaining -1: over the limit). */
  hit(key: string): Window {
    const now = Date.now();
    let window = this.#windows.get(key);
    if (window === undefined || window.resetMs <= now) {
      window = { remaining: this.#max, resetMs: now + this.#durationMs };
      this.#windows.set(key, window);
    }
    window.remaining = Math.max(window.remaining - 1, -1);
    return window;
  }

  #dropExpired(): void {
    const now = Date.now();
    for (const [key, window] of this.#windows) if (window.resetMs <= now) this.#windows.delete(key);
  }
}

const X_RATE_LIMIT_HEADERS = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];

/**
 * The `RateLimit` field of the IETF HTTP API draft (draft-ietf-httpapi-ratelimit-headers):
 * `"<policy>";r=<requests left>;t=<seconds until the window resets>`. Admitted requests carry this
 * one field; a 429 also carries Retry-After and the X-RateLimit-* trio of the API contract.
 */
export function rateLimitField(policy: string, remaining: number, resetMs: number): string {
  return `"${policy}";r=${Math.max(remaining, 0)};t=${Math.max(0, Math.ceil((resetMs - Date.now()) / 1000))}`;
}

/** The headers of a 429: Retry-After, the contract's X-RateLimit-* trio, RateLimit and RateLimit-Policy. */
export function limitReachedHeaders(limit: {
  policy: string;
  max: number;
  windowMs: number;
  resetMs: number;
  retryAfterSeconds: number;
}): Record<string, string> {
  return {
    'Retry-After': String(limit.retryAfterSeconds),
    'X-RateLimit-Limit': String(limit.max),
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': String(Math.ceil(limit.resetMs / 1000)), // whole epoch seconds
    RateLimit: rateLimitField(limit.policy, 0, limit.resetMs),
    'RateLimit-Policy': `"${limit.policy}";q=${limit.max};w=${Math.ceil(limit.windowMs / 1000)}`,
  };
}

/** 429s given, by limiter (shared with failure limits). */
let rejectionCounter: Counter | undefined;
export const rejections = (): Counter =>
  (rejectionCounter ??= meter().createCounter('vialog.rate_limit.rejections', {
    description: 'Requests refused with 429, by limiter',
  }));

/** The 429 problem for a window that resets at `resetMs` (epoch ms). */
function tooManyRequests(options: RateLimitOptions, resetMs: number): HttpProblem {
  rejections().add(1, { limiter: options.name });
  const windowSeconds = Math.ceil(options.durationMs / 1000);
  const retryAfter = Math.min(windowSeconds, Math.max(1, Math.ceil((resetMs - Date.now()) / 1000)));
  return new HttpProblem(429, 'rate_limited', `Too many requests: try again in ${retryAfter} s.`, {
    headers: limitReachedHeaders({
      policy: options.name,
      max: options.max,
      windowMs: options.durationMs,
      resetMs,
      retryAfterSeconds: retryAfter,
    }),
  });
}

/** When koa-ratelimit's window resets (epoch ms), from the X-RateLimit-Reset it set on the answer. */
function redisResetMs(ctx: Context): number {
  const reset = Number(ctx.response.get('X-RateLimit-Reset'));
  return Number.isFinite(reset) && reset > 0 ? reset * 1000 : Date.now();
}

/** koa-ratelimit's Redis driver for these options: the count shared by every instance. */
function redisLimiter(redis: Redis, options: RateLimitOptions): Middleware {
  return ratelimit({
    namespace: `vialog:ratelimit:${options.name}`,
    duration: options.durationMs,
    max: options.max,
    id: (ctx: Context) => options.key(ctx) ?? false,
    driver: 'redis',
    db: redis,
  });
}

export function rateLimit(backend: RateLimitBackend, options: RateLimitOptions): Middleware {
  const memory = new MemoryWindows(options.max, options.durationMs);
  const redis = backend.kind === 'redis' && backend.redis ? redisLimiter(backend.redis, options) : undefined;

  const countInMemory = async (ctx: Context, key: string, next: Next): Promise<void> => {
    const window = memory.hit(key);
    if (window.remaining < 0) throw tooManyRequests(options, window.resetMs);
    ctx.set('RateLimit', rateLimitField(options.name, window.remaining, window.resetMs));
    await next();
  };

  const countInRedis = async (limiter: Middleware, ctx: Context, key: string, next: Next): Promise<void> => {
    let admitted = false;
    const admit = async () => {
      admitted = true;
      // koa-ratelimit's X-RateLimit-* become the one RateLimit field (the trio is for 429s only).
      const remaining = Number(ctx.response.get('X-RateLimit-Remaining'));
      const resetMs = redisResetMs(ctx);
      for (const name of X_RATE_LIMIT_HEADERS) ctx.remove(name);
      ctx.set('RateLimit', rateLimitField(options.name, Number.isFinite(remaining) ? remaining : 0, resetMs));
      await next();
    };
    try {
      await limiter(ctx, admit);
    } catch (error) {
      if (admitted) throw error; // the route's own error
      backend.onFailure?.(error);
      (ctx.state as AppState).log.warn(
        { err: error, limiter: options.name },
        'Redis rate limiter failed: counted in memory',
      );
      await countInMemory(ctx, key, next);
      return;
    }
    if (!admitted && ctx.status === 429) throw tooManyRequests(options, redisResetMs(ctx));
  };

  return async (ctx, next) => {
    const key = options.key(ctx);
    if (key === false || key === undefined) {
      await next();
      return;
    }
    // Only a connected (or lazily connecting) client is asked: a reconnecting one would make us wait.
    const status = backend.redis?.status;
    if (redis && (status === 'ready' || status === 'wait')) return countInRedis(redis, ctx, key, next);
    if (redis) backend.onFailure?.(new Error(`Redis is ${status}`));
    return countInMemory(ctx, key, next);
  };
}
