// HTTP routes of the identity module (API.md, Identity): /api/v1/auth/* and /api/v1/admin/users*,
// each declared once with its schemas and documentation (schemas.ts), by resource (routes/*.ts).
// Refusals are the commands' DomainErrors, answered as problem+json by the platform.
import type { Knex } from 'knex';
import type { Middleware } from 'koa';
import type { FailureLimit } from '../../platform/http/failure-limit.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppRouter, AppState } from '../../platform/http/state.ts';
import type { IdentityCommands } from './commands.ts';
import { accountRoutes } from './routes/accounts.ts';
import { adminRoutes } from './routes/admin.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { sessionRoutes } from './routes/sessions.ts';

export interface IdentityRouteOptions {
  readonly commands: IdentityCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  /** Per-IP limit on the public auth routes (register, login, refresh, logout). */
  readonly authPerIp: Middleware<AppState>;
  /** Failed refreshes per client network. */
  readonly refreshFailures: FailureLimit;
}

export function identityRouters(options: IdentityRouteOptions): AppRouter[] {
  const { commands, knex, openapi } = options;
  const auth = new RouteGroup(openapi, { tag: 'auth', description: 'Accounts, sessions and API keys' });
  accountRoutes(auth, options);
  sessionRoutes(auth, options);
  apiKeyRoutes(auth, commands, knex);
  const admin = new RouteGroup(openapi, { tag: 'admin', description: 'Administration (role admin)' });
  adminRoutes(admin, commands, knex);
  return [auth.router, admin.router];
}
