// One log line per request, when it completes: what was asked (method, route pattern), the
// answer's status and how long it took. Never headers or bodies: they carry credentials.
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { routePattern } from './route-match.ts';
import type { AppState } from './state.ts';

export function accessLogMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    // Below the configured level the line is never built (nor the request's child logger).
    if (!logger.isLevelEnabled('info')) {
      await next();
      return;
    }
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const state = ctx.state as AppState;
      const durationMs = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
      // The route pattern (/samples/:id) rather than the path keeps ids out of log aggregations.
      const fields = {
        method: ctx.method,
        route: routePattern(ctx) ?? null,
        path: ctx.path,
        status: ctx.status,
        durationMs,
        userId: state.auth?.userId,
      };
      if (ctx.status >= 500) state.log.error(fields, 'request completed');
      else state.log.info(fields, 'request completed');
    }
  };
}
