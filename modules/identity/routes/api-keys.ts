// The caller's API keys, managed from a login session only: an API key cannot make or list keys.
import type { Knex } from 'knex';
import { commandCause } from '../../../platform/http/command-cause.ts';
import type { KeysetPage } from '../../../platform/database/keyset.ts';
import { creationCursor, creationKey, pageSchema, readPage } from '../../../platform/http/pagination.ts';
import type { RouteGroup } from '../../../platform/http/routes.ts';
import type { IdentityCommands } from '../commands.ts';
import * as queries from '../queries.ts';
import * as schemas from '../schemas.ts';
import { actorOf, sessionOnly } from './callers.ts';

const byApiKey = '`forbidden`: called with an API key';

export function apiKeyRoutes(routes: RouteGroup, commands: IdentityCommands, knex: Knex): void {
  const managing = [sessionOnly('Managing API keys')];
  routes.add({
    method: 'post',
    path: '/api/v1/auth/api-keys',
    summary: 'Create an API key',
    description:
      'Needs a login session: an API key cannot make keys. The answer holds the secret and is never kept: a repeat with the same Idempotency-Key creates nothing and gets 409 `idempotency_answer_withheld`.',
    middleware: managing,
    idempotency: 'secret',
    headers: ['idempotencyKey', 'changeReason'],
    body: schemas.apiKeyBody,
    responses: {
      201: { description: 'Created; `key` is shown only now', schema: schemas.createdApiKeySchema },
      403: byApiKey,
      409: '`idempotency_answer_withheld`: a repeat of a request that created a key',
    },
    handler: async (ctx, { auth, body }) => {
      const created = await commands.createApiKey(actorOf(auth), body.name, commandCause(ctx, body.reason));
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = created;
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/auth/api-keys',
    summary: "The caller's API keys, newest first, without secrets",
    description: 'Needs a login session (not an API key).',
    middleware: managing,
    query: schemas.listQuery,
    responses: { 200: { description: 'A page', schema: pageSchema(schemas.apiKeySchema) }, 403: byApiKey },
    handler: async (ctx, { auth, query }) => {
      const keysOf = (page: KeysetPage) => queries.listApiKeys(knex, auth.userId, page);
      ctx.body = await readPage(query, creationCursor, keysOf, creationKey);
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/auth/api-keys/{id}',
    summary: 'Revoke an API key (it stops working at once)',
    description: 'Needs a login session (not an API key).',
    middleware: managing,
    headers: ['changeReason'],
    params: schemas.idParams,
    responses: { 204: 'Done', 403: byApiKey, 404: "`not_found`: unknown, or another user's key" },
    handler: async (ctx, { auth, params }) => {
      await commands.revokeApiKey(actorOf(auth), params.id, commandCause(ctx));
      ctx.status = 204;
    },
  });
}
