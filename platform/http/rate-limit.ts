// Rate limits with koa-ratelimit: in Redis (shared by every instance) when REDIS_URL is set,
// in process memory otherwise. If Redis fails, requests are let through (fail open) and the
// failure is reported: availability of a lab system beats strict limiting for a few seconds.
import type { Context, Middleware } from 'koa';
import ratelimit from 'koa-ratelimit';
import type { Redis } from 'ioredis';
import { HttpProblem } from './problem.ts';
import type { AppState } from './state.ts';

export interface RateLimitBackend {
  readonly kind: 'redis' | 'memory';
  readonly redis?: Redis;
  /** Called when the backend fails and a request is let through. */
  onFailure?(error: unknown): void;
}

export interface RateLimitOptions {
  readonly name: string;
  readonly max: number;
  readonly durationMs: number;
  /** The key to count by; `false` skips limiting for this request. */
  readonly key: (ctx: Context) => string | false;
}

export function memoryBackend(): RateLimitBackend {
  return { kind: 'memory' };
}

export function rateLimit(backend: RateLimitBackend, options: RateLimitOptions): Middleware {
  const limiter = ratelimit({
    driver: backend.kind,
    db: backend.kind === 'redis' && backend.redis ? backend.redis : new Map(),
    namespace: `vialog:ratelimit:${options.name}`,
    duration: options.durationMs,
    max: options.max,
    id: options.key,
  });
  return async (ctx, next) => {
    let passed = false;
    const pass = async () => {
      passed = true;
      await next();
    };
    try {
      await limiter(ctx, pass);
    } catch (error) {
      if (passed) throw error;
      backend.onFailure?.(error);
      (ctx.state as AppState).log.warn({ err: error, limiter: options.name }, 'rate limiter unavailable: request let through');
      await pass();
      return;
    }
    if (!passed && ctx.status === 429) {
      const retryAfter = Math.max(1, Number(ctx.response.get('Retry-After')) || 1);
      throw new HttpProblem(429, 'rate_limited', `Too many requests: try again in ${retryAfter} s.`, {
        headers: {
          'Retry-After': String(retryAfter),
          'X-RateLimit-Limit': String(options.max),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': ctx.response.get('X-RateLimit-Reset'),
        },
      });
    }
  };
}
