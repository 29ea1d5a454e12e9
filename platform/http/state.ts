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

/**
 * A prefix (e.g. '/api/v1/samples'), and the translation of whatever the router's routes throw.
 * A translating router needs a prefix: all routers are mounted into one, and its translation
 * applies to the paths under its prefix.
 */
export type RouterOptions =
  | { readonly prefix?: string; readonly translateErrors?: undefined }
  | { readonly prefix: string; readonly translateErrors: ErrorTranslation };

/** A router whose handlers see the typed ctx.state. */
export function createRouter(options: RouterOptions = {}): AppRouter {
  const router = new Router<AppState>(options.prefix === undefined ? {} : { prefix: options.prefix });
  const translate = options.translateErrors;
  // Router-level middleware around the routes under the prefix. The explicit path '' makes its
  // layer match as routes do (case-insensitive, trailing slash); without one it is case-sensitive.
  if (translate) {
    router.use('', async (_ctx, next) => {
      try {
        await next();
      } catch (error) {
        throw translate(error);
      }
    });
  }
  return router;
}

export function stateOf(ctx: { state: unknown }): AppState {
  return ctx.state as AppState;
}
