// What the HTTP platform keeps on ctx.state for every request, in one place, plus the context
// and router types route code uses so it never has to cast ctx.state.
import Router from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { Logger } from 'pino';

/** Who is calling; set by the identity module's authentication middleware. */
export interface AuthState {
  readonly userId: string;
  readonly username: string;
  readonly role: 'user' | 'admin';
  readonly actorType: 'user' | 'api_key';
  readonly apiKeyId?: string;
  readonly sessionId?: string;
}

export interface AppState {
  /** The request id: a valid incoming X-Request-Id or a generated UUID; echoed on every answer. */
  requestId: string;
  /** The caller's W3C traceparent, when a valid one was sent. */
  traceparent: string | null;
  /** A child logger that carries the request id. */
  log: Logger;
  auth?: AuthState;
}

export type AppContext = ParameterizedContext<AppState>;
export type AppRouter = Router<AppState>;

/** A prefix (e.g. '/api/v1/samples') for the router's routes. */
export interface RouterOptions {
  readonly prefix?: string;
}

/** A router whose handlers see the typed ctx.state. */
export function createRouter(options: RouterOptions = {}): AppRouter {
  return new Router<AppState>(options.prefix === undefined ? {} : { prefix: options.prefix });
}

export function stateOf(ctx: { state: unknown }): AppState {
  return ctx.state as AppState;
}
