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

/** Turns a module's own errors into HttpProblems; anything else is returned unchanged. */
export type ErrorTranslation = (error: unknown) => unknown;
const translations = new WeakMap<object, ErrorTranslation>();

export interface RouterOptions {
  /** e.g. '/api/v1/samples' */
  readonly prefix?: string;
  /** Applied to whatever the router's routes throw (where the app mounts it: no extra layer). */
  readonly translateErrors?: ErrorTranslation;
}

/** A router whose handlers see the typed ctx.state. */
export function createRouter(options: RouterOptions = {}): AppRouter {
  const router = new Router<AppState>(options.prefix === undefined ? {} : { prefix: options.prefix });
  if (options.translateErrors) translations.set(router, options.translateErrors);
  return router;
}

/** The error translation a router was created with, if any. */
export function errorTranslationOf(router: object): ErrorTranslation | undefined {
  return translations.get(router);
}

export function stateOf(ctx: { state: unknown }): AppState {
  return ctx.state as AppState;
}
