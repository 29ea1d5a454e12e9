// Route code's way to the caller: the identity module's authentication middleware sets
// ctx.state.auth; a route that needs a caller asks for it here.
import type { Middleware } from 'koa';
import { HttpProblem } from './problem.ts';
import { stateOf, type AuthState } from './state.ts';

/** The caller, or 401 `unauthenticated` when the request carries no valid credentials. */
export function requireAuth(ctx: { state: unknown }): AuthState {
  const auth = stateOf(ctx).auth;
  if (!auth)
    throw new HttpProblem(401, 'unauthenticated', 'Send a bearer token or an API key.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  return auth;
}

/** An administrator, or 403 `forbidden` for any other caller (401 without credentials). */
export function requireAdmin(ctx: { state: unknown }): AuthState {
  const auth = requireAuth(ctx);
  if (auth.role !== 'admin') throw new HttpProblem(403, 'forbidden', 'This route is for administrators.');
  return auth;
}

const sessionOnly = (what: string) =>
  new HttpProblem(
    403,
    'forbidden',
    `${what} needs an interactive session (Authorization: Bearer <access token> from a login), not an API key.`,
  );

/**
 * The caller of a bearer access token (a login), or 403 `forbidden` for an API key: what an
 * API key could do to make itself permanent or lock its owner out (keys, password, erasure,
 * administration) is reserved to the person.
 */
export function requireSession(ctx: { state: unknown }, what: string): AuthState {
  const auth = requireAuth(ctx);
  if (auth.actorType !== 'user') throw sessionOnly(what);
  return auth;
}

/** Refuses API-key callers on every path the pattern matches (e.g. all of /api/v1/admin/), before any route runs. */
export function sessionOnlyPaths(paths: RegExp, what: string): Middleware {
  return (ctx, next) => {
    if (stateOf(ctx).auth?.actorType === 'api_key' && paths.test(ctx.path)) throw sessionOnly(what);
    return next();
  };
}
