// Administration of accounts (role admin, login session): list them, deactivate, activate, erase.
import type { Knex } from 'knex';
import { commandCause } from '../../../platform/http/command-cause.ts';
import type { CommandCause } from '../../../platform/eventstore/metadata.ts';
import { creationCursor, creationKey, pageSchema, readPage } from '../../../platform/http/pagination.ts';
import type { RouteGroup } from '../../../platform/http/routes.ts';
import type { IdentityCommands } from '../commands.ts';
import type { Actor } from '../decide.ts';
import * as queries from '../queries.ts';
import * as schemas from '../schemas.ts';
import { actorOf, adminOnly } from './callers.ts';

type AdminAction = (actor: Actor, userId: string, cause: CommandCause) => Promise<void>;

export function adminRoutes(routes: RouteGroup, commands: IdentityCommands, knex: Knex): void {
  routes.add({
    method: 'get',
    path: '/api/v1/admin/users',
    summary: 'Every account, oldest first',
    middleware: [adminOnly],
    query: schemas.listQuery,
    responses: {
      200: { description: 'A page', schema: pageSchema(schemas.adminUserSchema) },
      403: '`forbidden`: not an admin, or an API key',
    },
    handler: async (ctx, { query }) => {
      ctx.body = await readPage(query, creationCursor, (page) => queries.listUsers(knex, page), creationKey);
    },
  });
  const action = (name: string, summary: string, run: AdminAction) =>
    routes.add({
      method: 'post',
      path: `/api/v1/admin/users/{id}/${name}`,
      summary,
      middleware: [adminOnly],
      headers: ['changeReason'],
      params: schemas.idParams,
      body: schemas.adminActionBody,
      responses: {
        204: 'Done',
        403: '`forbidden`: not an admin, an API key, or an admin acting on their own account',
        404: '`not_found`',
      },
      handler: async (ctx, { auth, params, body }) => {
        await run(actorOf(auth), params.id, commandCause(ctx, body.reason));
        ctx.status = 204;
      },
    });
  action('deactivate', 'Deactivate an account: its tokens and keys stop working at once', (actor, id, cause) =>
    commands.setActive(actor, id, false, cause),
  );
  action('activate', 'Activate an account again', (actor, id, cause) => commands.setActive(actor, id, true, cause));
  action('erase', 'Erase an account (an erasure request received another way)', (actor, id, cause) =>
    commands.erase(actor, id, undefined, cause),
  );
}
