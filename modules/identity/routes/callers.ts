// Who may call which identity route, as route middleware (checked before the input is parsed),
// and what the commands learn of the request.
import type { Middleware } from 'koa';
import { HttpProblem } from '../../../platform/http/problem.ts';
import { requireSession } from '../../../platform/http/require-auth.ts';
import type { AppContext, AppState, AuthState } from '../../../platform/http/state.ts';
import type { Actor, RequestFacts } from '../decide.ts';

/**
 * Only the caller of a login session: what an API key could do to make itself permanent or lock
 * its owner out (keys, password, erasure) is reserved to the person.
 */
export const sessionOnly =
  (what: string): Middleware<AppState> =>
  (ctx, next) => {
    requireSession(ctx, what);
    return next();
  };

/** Only an administrator, in a login session. */
export const adminOnly: Middleware<AppState> = (ctx, next) => {
  if (requireSession(ctx, 'Administration').role !== 'admin')
    throw new HttpProblem(403, 'forbidden', 'This route is for administrators.');
  return next();
};

export const actorOf = (auth: AuthState): Actor => ({ userId: auth.userId, role: auth.role });

export const requestFacts = (ctx: AppContext): RequestFacts => ({
  ip: ctx.ip.slice(0, 45) || null,
  userAgent: ctx.get('user-agent') || null,
});
