// Route code's way to the caller: the identity module's authentication middleware sets
// ctx.state.auth; a route that needs a caller asks for it here.
import { HttpProblem } from './problem.ts';
import { stateOf, type AuthState } from './state.ts';

/** The caller, or 401 `unauthenticated` when the request carries no valid credentials. */
export function requireAuth(ctx: { state: unknown }): AuthState {
  const auth = stateOf(ctx).auth;
  if (!auth) throw new HttpProblem(401, 'unauthenticated', 'Send a bearer token or an API key.', { headers: { 'WWW-Authenticate': 'Bearer' } });
  return auth;
}
