// Every request gets an id: a valid incoming X-Request-Id is kept, otherwise one is generated.
// It is echoed on every answer, logged on every line and stored in every event's metadata.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { AppState } from './state.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

export function requestIdMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    const state = ctx.state as AppState;
    const incoming = ctx.get('x-request-id');
    state.requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const traceparent = ctx.get('traceparent').toLowerCase();
    state.traceparent = TRACEPARENT.test(traceparent) ? traceparent : null;
    state.log = logger.child({ requestId: state.requestId });
    ctx.set('X-Request-Id', state.requestId);
    await next();
  };
}
