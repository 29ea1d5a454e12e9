// The caller's own account: register (public), read, change the password, erase.
import type { Middleware } from 'koa';
import { commandCause } from '../../../platform/http/command-cause.ts';
import { HttpProblem } from '../../../platform/http/problem.ts';
import type { RouteGroup } from '../../../platform/http/routes.ts';
import type { AppState } from '../../../platform/http/state.ts';
import { authenticatedCaller } from '../authenticate.ts';
import type { IdentityCommands } from '../commands.ts';
import * as schemas from '../schemas.ts';
import { actorOf, sessionOnly } from './callers.ts';

export interface AccountRouteOptions {
  readonly commands: IdentityCommands;
  /** Per-IP limit on the public auth routes. */
  readonly authPerIp: Middleware<AppState>;
}

const passwordAttempts = '`rate_limited`: too many failed password attempts for this account';

export function accountRoutes(routes: RouteGroup, { commands, authPerIp }: AccountRouteOptions): void {
  routes.add({
    method: 'post',
    path: '/api/v1/auth/register',
    summary: 'Create an account',
    access: 'public',
    middleware: [authPerIp],
    // Public routes are not idempotent commands of a user: an Idempotency-Key is ignored there.
    idempotency: 'ignored',
    body: schemas.registerBody,
    responses: {
      201: { description: 'Registered', schema: schemas.userSchema },
      409: '`username_taken` or `email_taken` (case-insensitive)',
    },
    handler: async (ctx, { body }) => {
      const user = await commands.register(body, commandCause(ctx));
      ctx.status = 201;
      ctx.set('Location', '/api/v1/auth/me');
      const { id, username, email, role, createdAt } = user;
      ctx.body = { id, username, email, role, createdAt };
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/auth/me',
    summary: 'The caller',
    responses: { 200: { description: 'The caller', schema: schemas.meSchema } },
    handler: (ctx) => {
      // The account as the authentication just checked it (same read model row, no second query).
      const caller = authenticatedCaller(ctx) ?? notFound();
      const { userId: id, username, email, role, createdAt } = caller;
      ctx.body = { id, username, email, role, isActive: caller.status === 'active', createdAt };
    },
  });
  passwordRoutes(routes, commands);
}

const notFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'User not found.');
};

/** What needs the password: changing it and erasing the account, from a login session only. */
function passwordRoutes(routes: RouteGroup, commands: IdentityCommands): void {
  routes.add({
    method: 'post',
    path: '/api/v1/auth/password',
    summary: 'Change the password (ends every session, revokes every API key)',
    description:
      "Needs a login session (not an API key). Wrong current passwords count against the account's attempt limit, as failed logins do.",
    middleware: [sessionOnly('Changing the password')],
    headers: ['changeReason'],
    body: schemas.passwordBody,
    responses: {
      204: 'Done',
      401: '`invalid_credentials`: the current password is wrong',
      403: '`forbidden`: called with an API key',
      429: passwordAttempts,
    },
    handler: async (ctx, { auth, body }) => {
      const cause = commandCause(ctx, body.reason);
      await commands.changePassword(actorOf(auth), body.currentPassword, body.newPassword, cause);
      ctx.status = 204;
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/auth/me',
    summary: 'Erase the own account',
    description:
      "Needs a login session (not an API key) and the password; wrong passwords count against the account's attempt limit. Personal data leaves the read models and becomes unreadable in the events, every session and API key is revoked, kept Idempotency-Key answers are deleted, the email can be registered again; the username stays reserved.",
    middleware: [sessionOnly('Erasing the account')],
    headers: ['changeReason'],
    body: schemas.eraseMeBody,
    responses: {
      204: 'Done',
      401: '`invalid_credentials`: wrong password',
      403: '`forbidden`: called with an API key',
      429: passwordAttempts,
    },
    handler: async (ctx, { auth, body }) => {
      await commands.erase(actorOf(auth), auth.userId, body.password, commandCause(ctx, body.reason));
      ctx.status = 204;
    },
  });
}
