// One log line per request, when it completes: who asked what, the answer, how long it took.
import type { Middleware } from 'koa';
import type { AppState } from './state.ts';

export function accessLogMiddleware(): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const state = ctx.state as AppState;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? ctx.path;
      state.log.info(
        { method: ctx.method, route, status: ctx.status, ms: Math.round(ms * 10) / 10, userId: state.auth?.userId },
        'request completed',
      );
    }
  };
}
