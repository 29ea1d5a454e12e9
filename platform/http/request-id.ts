// Every request gets an id: a valid incoming X-Request-Id is kept, otherwise one is generated.
// It is echoed on every answer (errors too), logged on every line and stored in every event's
// metadata. A valid W3C traceparent is kept for the event metadata (tracing links to it).
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { AppState, AuthState } from './state.ts';

export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
// version-traceid-parentid-flags; version ff and all-zero ids are invalid (W3C Trace Context).
const TRACEPARENT_PATTERN = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

export function parseTraceparent(header: string): string | null {
  const value = header.trim();
  return TRACEPARENT_PATTERN.test(value) ? value : null;
}

/** ctx.state for one request; the child logger is made on first use (many requests never log). */
class RequestState implements AppState {
  readonly requestId: string;
  readonly traceparent: string | null;
  auth?: AuthState;
  #log: Logger | undefined;
  readonly #root: Logger;
  constructor(requestId: string, traceparent: string | null, root: Logger) {
    this.requestId = requestId;
    this.traceparent = traceparent;
    this.#root = root;
  }
  get log(): Logger {
    return (this.#log ??= this.#root.child({ requestId: this.requestId }));
  }
}

/** Gives the request its id and state, and echoes the id on the answer. */
export function requestIdMiddleware(logger: Logger): Middleware {
  return (ctx, next) => {
    const incoming = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    const traceparent = ctx.get('traceparent');
    ctx.state = new RequestState(requestId, traceparent ? parseTraceparent(traceparent) : null, logger);
    ctx.set('X-Request-Id', requestId);
    return next();
  };
}
