// HTTP routes of the storage module (API.md, Storage): /api/v1/storage/units*, each declared
// once with its schemas and documentation. A unit belongs to a lab: someone who is not a member
// gets 404 (as for an unknown id), a member below the role a route needs 403 `forbidden`.
import type { Knex } from 'knex';
import { z } from 'zod';
import { fail } from '../../platform/commands/decision.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { pageSchema, readPage } from '../../platform/http/pagination.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppRouter, AuthState } from '../../platform/http/state.ts';
import { boxMap, boxMapSvg, type MapSample } from './box-map.ts';
import type { StorageCommands } from './commands.ts';
import { freePositions } from './grid.ts';
import { atLeast, labLadder, type LabAccess, type LabRole } from './lab-access.ts';
import * as queries from './queries.ts';
import * as schemas from './schemas.ts';

/**
 * The samples in a box's slots (position → sample), as its map shows them: wired by app/ from the
 * storage and samples read models, one statement whatever the number of samples.
 */
export type SampleDirectory = (unitId: string) => Promise<ReadonlyMap<string, MapSample>>;

export interface StorageRouteOptions {
  readonly commands: StorageCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  readonly labs: LabAccess;
  readonly samples: SampleDirectory;
}

const notFound = '`not_found`: unknown or removed unit, or a lab the caller is not a member of';
const forbidden = '`forbidden`: the caller is a member of the lab, with a role too low';
const unitNotFound = (): never => fail({ code: 'not_found', message: 'storage unit not found' });
const notABox = (): never => fail({ code: 'not_a_box', message: 'only a box has a map', status: 422 });

/** The caller's role must reach `needed` in the lab: 404 for a non-member, 403 for a role too low. */
async function requireRole(labs: LabAccess, auth: AuthState, labId: string, needed: LabRole): Promise<void> {
  labLadder.require(await labs.roleIn(auth.userId, labId), needed);
}

/** The unit, when the caller's role in its lab reaches `needed`: 404 for a non-member, 403 below. */
async function checkRole(labs: LabAccess, auth: AuthState, unit: queries.UnitView, needed: LabRole): Promise<void> {
  const role = await labs.roleIn(auth.userId, unit.labId);
  if (role === undefined) unitNotFound();
  if (!atLeast(role, needed)) fail({ code: 'forbidden', message: `this needs the ${needed} role in the lab` });
}

async function unitFor(options: StorageRouteOptions, auth: AuthState, unitId: string, needed: LabRole) {
  const unit = (await queries.getUnit(options.knex, unitId)) ?? unitNotFound();
  await checkRole(options.labs, auth, unit, needed);
  return unit;
}

const current = async (knex: Knex, unitId: string) => (await queries.getUnit(knex, unitId)) ?? unitNotFound();

export function storageRouters(options: StorageRouteOptions): AppRouter[] {
  const routes = new RouteGroup(options.openapi, {
    tag: 'storage',
    description: 'Storage units (freezers, racks, boxes with positions) and the map of a box',
  });
  unitRoutes(routes, options);
  changeRoutes(routes, options);
  boxRoutes(routes, options);
  return [routes.router];
}

function unitRoutes(routes: RouteGroup, options: StorageRouteOptions): void {
  const { commands, knex, labs } = options;
  routes.add({
    method: 'post',
    path: '/api/v1/storage/units',
    summary: 'Create a storage unit (manager of the lab)',
    body: schemas.createBody,
    responses: {
      201: { description: 'Created; Location set', schema: schemas.unitSchema },
      403: forbidden,
      404: '`not_found`: a lab the caller is not a member of',
      422: '`validation_failed` (name, grid on a non-box, no grid on a box, temperature) or `invalid_parent` (kind not allowed there, no such parent in the lab)',
    },
    handler: async (ctx, { auth, body: { reason, ...input } }) => {
      await requireRole(labs, auth, input.labId, 'manager');
      const unitId = await commands.create(input, commandCause(ctx, reason));
      ctx.status = 201;
      ctx.set('Location', `/api/v1/storage/units/${unitId}`);
      ctx.body = await current(knex, unitId);
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/storage/units',
    summary: "The caller's units under one parent (top-level units without parentId), by name",
    query: schemas.listQuery,
    responses: { 200: { description: 'A page', schema: pageSchema(schemas.unitSchema) } },
    handler: async (ctx, { auth, query }) => {
      const mine = await labs.labsOf(auth.userId);
      const labIds = query.labId === undefined ? mine : mine.filter((id) => id === query.labId);
      const keyOf = (last: queries.UnitView) => ({ name: last.name, id: last.id });
      ctx.body = await readPage(
        query,
        schemas.cursorSchema,
        (page) => queries.listUnits(knex, labIds, query, page),
        keyOf,
      );
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/storage/units/{id}',
    summary: 'One storage unit, with its path',
    params: schemas.idParams,
    responses: { 200: { description: 'The unit', schema: schemas.unitSchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      ctx.body = await unitFor(options, auth, params.id, 'viewer');
    },
  });
}

function changeRoutes(routes: RouteGroup, options: StorageRouteOptions): void {
  const { commands, knex } = options;
  routes.add({
    method: 'patch',
    path: '/api/v1/storage/units/{id}',
    summary: 'Rename a unit or set its temperature (manager)',
    description: 'A new name changes the path of the unit and of everything inside it.',
    params: schemas.idParams,
    body: schemas.patchBody,
    responses: {
      200: { description: 'The unit after the change', schema: schemas.unitSchema },
      403: forbidden,
      404: notFound,
      422: '`validation_failed`',
    },
    handler: async (ctx, { auth, params, body: { reason, ...changes } }) => {
      await unitFor(options, auth, params.id, 'manager');
      await commands.change(params.id, changes, commandCause(ctx, reason));
      ctx.body = await current(knex, params.id);
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/storage/units/{id}/move',
    summary: 'Move a unit into another one (manager); its contents move with it',
    params: schemas.idParams,
    body: schemas.moveBody,
    responses: {
      200: { description: 'The unit after the move; the paths below it changed too', schema: schemas.unitSchema },
      403: forbidden,
      404: notFound,
      422: '`invalid_parent`: into itself or below itself, a kind not allowed there, no such parent in the lab',
    },
    handler: async (ctx, { auth, params, body }) => {
      await unitFor(options, auth, params.id, 'manager');
      await commands.move(params.id, body.parentId, commandCause(ctx, body.reason));
      ctx.body = await current(knex, params.id);
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/storage/units/{id}',
    summary: 'Remove an empty unit (manager)',
    params: schemas.idParams,
    responses: {
      204: 'Removed',
      403: forbidden,
      404: notFound,
      422: '`not_empty`: units or samples are still inside',
    },
    handler: async (ctx, { auth, params }) => {
      await unitFor(options, auth, params.id, 'manager');
      await commands.remove(params.id, commandCause(ctx));
      ctx.status = 204;
    },
  });
}

function boxRoutes(routes: RouteGroup, options: StorageRouteOptions): void {
  const { knex } = options;
  const boxFor = async (auth: AuthState, unitId: string) => {
    const { unit, slots } = (await queries.unitWithSlots(knex, unitId)) ?? unitNotFound();
    await checkRole(options.labs, auth, unit, 'viewer');
    return { unit, grid: unit.grid ?? notABox(), slots };
  };
  routes.add({
    method: 'get',
    path: '/api/v1/storage/units/{id}/map',
    summary: 'The map of a box: every position with its sample, as JSON or a printable SVG picture',
    params: schemas.idParams,
    query: schemas.mapQuery,
    responses: {
      200: {
        description:
          'JSON: positions in reading order. SVG: a grid of the slots, coloured by sample type, labelled with the barcode',
        content: {
          'application/json': { schema: schemas.mapSchema },
          'image/svg+xml': { schema: z.string() },
        },
      },
      404: notFound,
      422: '`not_a_box`',
    },
    handler: async (ctx, { auth, params, query }) => {
      // The unit and the samples in its slots at once: a full box costs the round trips of an empty one.
      const [unit, placed] = await Promise.all([queries.getUnit(knex, params.id), options.samples(params.id)]);
      if (!unit) return unitNotFound();
      await checkRole(options.labs, auth, unit, 'viewer');
      const grid = unit.grid ?? notABox();
      if (query.format === 'svg') {
        ctx.type = 'image/svg+xml; charset=utf-8';
        ctx.body = boxMapSvg(unit.path, grid, placed);
      } else {
        ctx.body = boxMap(grid, placed);
      }
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/storage/units/{id}/free-positions',
    summary: 'Free positions of a box in reading order (A1, A2, … A12, B1, …)',
    params: schemas.idParams,
    query: schemas.freeQuery,
    responses: {
      200: { description: 'Free positions', schema: schemas.freeSchema },
      404: notFound,
      422: '`not_a_box`',
    },
    handler: async (ctx, { auth, params, query }) => {
      const { grid, slots } = await boxFor(auth, params.id);
      ctx.body = { items: freePositions(grid, new Set(slots.keys()), query.limit) };
    },
  });
}
