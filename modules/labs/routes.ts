// HTTP routes of the labs module (API.md, Labs): /api/v1/labs* and /api/v1/admin/labs*, each
// declared once. A non-member gets 404 for everything of a lab, a member whose role is too low
// 403. The decider checks the same on the lab's stream; the routes check first where they must
// look something up (a username) so that a non-member never learns more than "not found".
import type { Knex } from 'knex';
import { DomainError } from '../../platform/commands/decision.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import { expectedVersionFromIfMatch, setETag } from '../../platform/http/etag.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { creationCursor, creationKey, pageSchema, readPage } from '../../platform/http/pagination.ts';
import type { KeysetPage } from '../../platform/database/keyset.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppContext, AppRouter } from '../../platform/http/state.ts';
import type { LabCommands } from './commands.ts';
import { hasRole, type LabRole } from './events.ts';
import * as queries from './queries.ts';
import * as schemas from './schemas.ts';

export interface LabRouteOptions {
  readonly commands: LabCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
}

const notFound = '`not_found`: unknown lab, or the caller is not a member';
/** The answers of a route for managers besides its own. */
const managerOnly = { 403: '`forbidden`: below manager', 404: notFound } as const;
const labNotFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'Lab not found.');
};

/** The caller's role in the lab, refused as the decider would: 404 for a non-member, 403 below `needed`. */
async function requireRole(knex: Knex, labId: string, userId: string, needed: LabRole): Promise<LabRole> {
  const role = await queries.roleIn(knex, labId, userId);
  if (role === undefined) labNotFound();
  if (!hasRole(role, needed)) throw new HttpProblem(403, 'forbidden', `This needs the ${needed} role in the lab.`);
  return role!;
}

async function userOf(knex: Knex, username: string): Promise<string> {
  const userId = await queries.userIdByUsername(knex, username);
  if (userId === undefined)
    throw new DomainError({
      code: 'unknown_user',
      status: 422,
      message: 'no active account has this username',
      errors: [{ path: 'username', message: 'unknown user' }],
    });
  return userId;
}

async function answerDetail(ctx: AppContext, knex: Knex, labId: string, userId: string | undefined, status = 200) {
  const lab = (await queries.labWithMembers(knex, labId, userId)) ?? labNotFound();
  ctx.status = status;
  setETag(ctx, lab.version);
  ctx.body = lab;
}

export function labRouters(options: LabRouteOptions): AppRouter[] {
  const routes = new RouteGroup(options.openapi, {
    tag: 'labs',
    description: 'Labs: samples belong to a lab; members read and write by role (viewer, technician, manager)',
  });
  labRoutes(routes, options);
  memberRoutes(routes, options);
  const admin = new RouteGroup(options.openapi, { tag: 'admin', description: 'Administration (role admin)' });
  adminRoutes(admin, options);
  return [routes.router, admin.router];
}

function labRoutes(routes: RouteGroup, { commands, knex }: LabRouteOptions): void {
  routes.add({
    method: 'post',
    path: '/api/v1/labs',
    summary: 'Create a shared lab; the caller becomes its manager',
    body: schemas.createBody,
    headers: ['idempotencyKey', 'changeReason'],
    responses: {
      201: { description: 'Created; Location and ETag set', schema: schemas.labSchema },
      422: '`validation_failed`',
    },
    handler: async (ctx, { auth, body }) => {
      const lab = await commands.create({ userId: auth.userId }, body.name, commandCause(ctx, body.reason));
      ctx.status = 201;
      ctx.set('Location', `/api/v1/labs/${lab.labId}`);
      setETag(ctx, lab.version);
      ctx.body = {
        id: lab.labId,
        name: lab.name,
        personal: false,
        role: 'manager',
        createdAt: lab.createdAt,
        version: lab.version,
      };
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/labs',
    summary: "The caller's labs, each with the caller's role",
    query: schemas.listQuery,
    responses: {
      200: { description: 'A page, oldest first (the personal lab leads)', schema: pageSchema(schemas.labSchema) },
    },
    handler: async (ctx, { auth, query }) => {
      const labsOf = async (page: KeysetPage) => {
        // An account registered a moment ago may not have its personal lab yet: it gets it now.
        if (!page.after && (await queries.roleIn(knex, auth.userId, auth.userId)) === undefined)
          await commands.ensurePersonalLab(auth.userId, { ...systemCause(), actorId: auth.userId });
        return queries.labsOf(knex, auth.userId, page);
      };
      ctx.body = await readPage(query, creationCursor, labsOf, creationKey);
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/labs/{id}',
    summary: 'A lab with its members',
    params: schemas.idParams,
    responses: { 200: { description: 'The lab; ETag = version', schema: schemas.labDetailSchema }, 404: notFound },
    handler: (ctx, { auth, params }) => answerDetail(ctx, knex, params.id, auth.userId),
  });
  routes.add({
    method: 'patch',
    path: '/api/v1/labs/{id}',
    summary: 'Rename a lab (manager)',
    params: schemas.idParams,
    body: schemas.renameBody,
    headers: ['ifMatch', 'changeReason'],
    responses: {
      200: { description: 'The lab after the change', schema: schemas.labDetailSchema },
      ...managerOnly,
      412: '`version_mismatch`',
    },
    handler: async (ctx, { auth, params, body }) => {
      const cause = commandCause(ctx, body.reason);
      await commands.rename({ userId: auth.userId }, params.id, body.name, expectedVersionFromIfMatch(ctx), cause);
      await answerDetail(ctx, knex, params.id, auth.userId);
    },
  });
}

async function answerMember(ctx: AppContext, knex: Knex, labId: string, userId: string, status: number) {
  const member = (await queries.membersOf(knex, labId)).find((m) => m.userId === userId);
  if (!member) labNotFound();
  ctx.status = status;
  ctx.body = member;
}

function memberRoutes(routes: RouteGroup, { commands, knex }: LabRouteOptions): void {
  routes.add({
    method: 'post',
    path: '/api/v1/labs/{id}/members',
    summary: 'Add a member (manager)',
    params: schemas.idParams,
    body: schemas.addMemberBody,
    headers: ['idempotencyKey', 'changeReason'],
    responses: {
      201: { description: 'The member', schema: schemas.memberSchema },
      ...managerOnly,
      409: '`already_member`',
      422: '`unknown_user`, `personal_lab` (no one else can join a personal lab), `validation_failed`',
    },
    handler: async (ctx, { auth, params, body }) => {
      await requireRole(knex, params.id, auth.userId, 'manager');
      const userId = await userOf(knex, body.username);
      const cause = commandCause(ctx, body.reason);
      await commands.addMember({ userId: auth.userId }, params.id, userId, body.role, cause);
      await answerMember(ctx, knex, params.id, userId, 201);
    },
  });
  routes.add({
    method: 'patch',
    path: '/api/v1/labs/{id}/members/{userId}',
    summary: "Change a member's role (manager)",
    params: schemas.memberParams,
    body: schemas.changeRoleBody,
    headers: ['changeReason'],
    responses: {
      200: { description: 'The member', schema: schemas.memberSchema },
      ...managerOnly,
      422: '`last_manager`: the lab would be left without a manager',
    },
    handler: async (ctx, { auth, params, body }) => {
      const cause = commandCause(ctx, body.reason);
      await commands.changeRole({ userId: auth.userId }, params.id, params.userId, body.role, cause);
      await answerMember(ctx, knex, params.id, params.userId, 200);
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/labs/{id}/members/{userId}',
    summary: 'Remove a member (manager), or leave (anyone)',
    params: schemas.memberParams,
    headers: ['changeReason'],
    responses: {
      204: 'Removed',
      403: '`forbidden`: removing someone else needs the manager role',
      404: notFound,
      422: '`last_manager`: the lab would be left without a manager',
    },
    handler: async (ctx, { auth, params }) => {
      await commands.removeMember({ userId: auth.userId }, params.id, params.userId, commandCause(ctx));
      ctx.status = 204;
    },
  });
}

function adminRoutes(routes: RouteGroup, { commands, knex }: LabRouteOptions): void {
  routes.add({
    method: 'get',
    path: '/api/v1/admin/labs',
    summary: 'Every lab, with member and manager counts (admin)',
    query: schemas.listQuery,
    access: 'admin',
    responses: { 200: { description: 'A page', schema: pageSchema(schemas.adminLabSchema) } },
    handler: async (ctx, { query }) => {
      ctx.body = await readPage(query, creationCursor, (page) => queries.allLabs(knex, page), creationKey);
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/admin/labs/{id}/members',
    summary: 'Give a lab left without a manager (e.g. after an erasure) a manager (admin)',
    params: schemas.idParams,
    body: schemas.adminAddManagerBody,
    headers: ['changeReason'],
    access: 'admin',
    responses: {
      201: { description: 'The new manager', schema: schemas.memberSchema },
      404: '`not_found`: unknown lab',
      422: '`unknown_user`, `lab_has_manager` (its managers add members)',
    },
    handler: async (ctx, { params, body }) => {
      const userId = await userOf(knex, body.username);
      await commands.adminAddManager(params.id, userId, commandCause(ctx, body.reason));
      await answerMember(ctx, knex, params.id, userId, 201);
    },
  });
}
