// Public session routes: log in, trade a refresh token, log out. They are not idempotent commands
// of a user: an Idempotency-Key is ignored there (tokens never come from storage).
import type { Middleware } from 'koa';
import { DomainError } from '../../../platform/commands/decision.ts';
import { commandCause } from '../../../platform/http/command-cause.ts';
import type { FailureLimit } from '../../../platform/http/failure-limit.ts';
import { ipBucket } from '../../../platform/http/rate-limit.ts';
import type { RouteGroup } from '../../../platform/http/routes.ts';
import type { AppState } from '../../../platform/http/state.ts';
import type { IdentityCommands } from '../commands.ts';
import * as schemas from '../schemas.ts';
import { requestFacts } from './callers.ts';

export interface SessionRouteOptions {
  readonly commands: IdentityCommands;
  /** Per-IP limit on the public auth routes. */
  readonly authPerIp: Middleware<AppState>;
  /**
   * Failed refreshes per client network (ipBucket), never per session: a forged token carrying
   * someone's session id must not use up that session's budget.
   */
  readonly refreshFailures: FailureLimit;
}

export function sessionRoutes(routes: RouteGroup, { commands, authPerIp, refreshFailures }: SessionRouteOptions): void {
  const publicRoute = { access: 'public', middleware: [authPerIp], idempotency: 'ignored' } as const;
  routes.add({
    ...publicRoute,
    method: 'post',
    path: '/api/v1/auth/login',
    summary: 'Log in with username or email',
    description:
      'Unknown user and wrong password get the same answer after the same work. Attempts are counted per account (its username and email together; per name for an unknown one) before the password is checked: beyond the limit, 429. Each login is a new session: an Idempotency-Key is ignored.',
    body: schemas.loginBody,
    responses: {
      200: { description: 'Logged in: a new session', schema: schemas.tokenPairSchema },
      401: '`invalid_credentials`',
      403: '`account_inactive` (only after a correct password)',
      429: '`rate_limited`: too many failed password attempts for this account',
    },
    handler: async (ctx, { body }) => {
      ctx.body = await commands.logIn(body.login, body.password, requestFacts(ctx), commandCause(ctx));
    },
  });
  routes.add({
    ...publicRoute,
    method: 'post',
    path: '/api/v1/auth/refresh',
    summary: 'Trade a refresh token for new tokens',
    description:
      'Rotation: the answer holds a new refresh token and the old one stops working. Presenting an already used refresh token revokes the whole session. Failed refreshes are limited per client network. An Idempotency-Key is ignored: tokens never come from storage.',
    body: schemas.refreshBody,
    responses: {
      200: { description: 'New tokens', schema: schemas.tokenPairSchema },
      401: '`invalid_credentials` or `token_expired`',
    },
    handler: async (ctx, { body }) => {
      const attempt = await refreshFailures.reserve(`refresh:${ipBucket(ctx.ip)}`);
      try {
        ctx.body = await commands.refresh(body.refreshToken, requestFacts(ctx), commandCause(ctx));
      } catch (error) {
        if (error instanceof DomainError && error.code === 'invalid_credentials') throw error; // stays counted
        await attempt.release();
        throw error;
      }
      await attempt.release(); // a success gives its own attempt back; others' failures from this network stay
    },
  });
  routes.add({
    ...publicRoute,
    method: 'post',
    path: '/api/v1/auth/logout',
    summary: 'End the session of a refresh token',
    body: schemas.refreshBody,
    responses: { 204: 'Done', 401: '`invalid_credentials`' },
    handler: async (ctx, { body }) => {
      await commands.logOut(body.refreshToken, requestFacts(ctx), commandCause(ctx));
      ctx.status = 204;
    },
  });
}
