// HTTP routes of the samples module (API.md, Samples): /api/v1/samples*, each declared once with
// its schemas and documentation. Every route is owner-only: another user's sample is 404,
// exactly like an unknown id.
import type { Knex } from 'knex';
import type { EventStore } from '../../platform/eventstore/port.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import { expectedVersionFromIfMatch, setETag } from '../../platform/http/etag.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppContext, AppRouter } from '../../platform/http/state.ts';
import type { SampleCommands } from './commands.ts';
import { sampleHistory } from './history.ts';
import * as queries from './queries.ts';
import { ruleErrorsOfWellTypedFields, utcDate } from './rules.ts';
import * as schemas from './schemas.ts';

export interface SampleRouteOptions {
  readonly commands: SampleCommands;
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
}

const notFound = "`not_found`: unknown, deleted, or another user's sample";
const sampleNotFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'Sample not found.');
};

/** The field rules over a body that failed its schema (create, replace): one 422 lists everything. */
const fieldRules = (raw: unknown) => ruleErrorsOfWellTypedFields(raw, new Date());

const page = (rows: queries.SampleView[], limit: number, total: number) =>
  toPage(rows, limit, total, (last) => ({ collectionDate: last.collectionDate, id: last.id }));

function answerSample(ctx: AppContext, sample: queries.SampleView, status = 200): void {
  ctx.status = status;
  setETag(ctx, sample.version);
  ctx.body = sample;
}

export function sampleRouters(options: SampleRouteOptions): AppRouter[] {
  const routes = new RouteGroup(options.openapi, {
    tag: 'samples',
    description: 'Clinical samples: register, find, count, correct, move, discard; full history',
  });
  collectionRoutes(routes, options);
  oneSampleRoutes(routes, options);
  return [routes.router];
}

/** The caller's samples as a whole. Fixed paths first: /stats/overview and /subject/{id} are not ids. */
function collectionRoutes(routes: RouteGroup, { commands, knex }: SampleRouteOptions): void {
  routes.add({
    method: 'get',
    path: '/api/v1/samples/stats/overview',
    summary: "Counts of the caller's samples",
    responses: {
      200: {
        description: 'Counts (pre-aggregated; the same cost for 10 or 100,000 samples)',
        schema: schemas.overviewSchema,
      },
    },
    handler: async (ctx, { auth }) => {
      ctx.body = await queries.sampleOverview(knex, auth.userId, utcDate(new Date()));
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/subject/{subjectId}',
    summary: "The caller's samples of one subject, newest collection first",
    params: schemas.subjectParams,
    query: schemas.subjectQuery,
    responses: { 200: { description: 'A page', schema: pageSchema(schemas.sampleSchema) } },
    handler: async (ctx, { auth, params, query }) => {
      const after = decodeCursor(query.cursor, schemas.cursorSchema);
      const filter = { ...query, subjectId: params.subjectId };
      const { rows, total } = await queries.listSamples(knex, auth.userId, filter, { limit: query.limit, after });
      ctx.body = page(rows, query.limit, total);
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples',
    summary: 'Register a sample',
    body: schemas.createBody,
    alsoCheck: fieldRules,
    headers: ['idempotencyKey', 'changeReason'],
    responses: { 201: { description: 'Registered; Location and ETag set', schema: schemas.sampleSchema } },
    handler: async (ctx, { auth, body: { reason, ...input } }) => {
      const sample = await commands.register(auth.userId, input, commandCause(ctx, reason));
      ctx.set('Location', `/api/v1/samples/${sample.id}`);
      answerSample(ctx, sample, 201);
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples',
    summary: "The caller's samples, newest collection first",
    description: 'Filters combine (AND). Keyset pagination: pages neither repeat nor skip while samples are added.',
    query: schemas.listQuery,
    responses: { 200: { description: 'A page', schema: pageSchema(schemas.sampleSchema) } },
    handler: async (ctx, { auth, query }) => {
      const after = decodeCursor(query.cursor, schemas.cursorSchema);
      const { rows, total } = await queries.listSamples(knex, auth.userId, query, { limit: query.limit, after });
      ctx.body = page(rows, query.limit, total);
    },
  });
}

/** One sample: read, change, discard, history. */
function oneSampleRoutes(routes: RouteGroup, { commands, knex, store }: SampleRouteOptions): void {
  const writeResponses = {
    200: { description: 'The sample after the change; ETag = version', schema: schemas.sampleSchema },
    404: notFound,
    412: '`version_mismatch`: If-Match is stale; nothing changed',
    422: '`validation_failed` (errors[]) or `invalid_transition`',
  };
  routes.add({
    method: 'get',
    path: '/api/v1/samples/{id}',
    summary: 'One sample',
    params: schemas.idParams,
    responses: { 200: { description: 'The sample; ETag = version', schema: schemas.sampleSchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      answerSample(ctx, (await queries.getSample(knex, auth.userId, params.id)) ?? sampleNotFound());
    },
  });
  routes.add({
    method: 'patch',
    path: '/api/v1/samples/{id}',
    summary: 'Change some fields',
    description:
      'Each kind of change is its own event (details corrected, moved, status changed), appended together. ' +
      'Without If-Match a concurrent change is retried on the fresh state, never lost.',
    params: schemas.idParams,
    body: schemas.patchBody,
    headers: ['ifMatch', 'changeReason'],
    responses: writeResponses,
    handler: async (ctx, { auth, params, body: { reason, ...changes } }) => {
      const expected = expectedVersionFromIfMatch(ctx);
      answerSample(ctx, await commands.update(auth.userId, params.id, changes, expected, commandCause(ctx, reason)));
    },
  });
  routes.add({
    method: 'put',
    path: '/api/v1/samples/{id}',
    summary: 'Replace the editable fields',
    params: schemas.idParams,
    body: schemas.putBody,
    alsoCheck: fieldRules,
    headers: ['ifMatch', 'changeReason'],
    responses: writeResponses,
    handler: async (ctx, { auth, params, body: { reason, ...body } }) => {
      const changes = { ...body, storageLocation: body.storageLocation ?? null, notes: body.notes ?? null };
      const expected = expectedVersionFromIfMatch(ctx);
      answerSample(ctx, await commands.update(auth.userId, params.id, changes, expected, commandCause(ctx, reason)));
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/samples/{id}',
    summary: 'Discard a sample',
    description: 'It leaves every list and statistic; its history stays readable.',
    params: schemas.idParams,
    body: schemas.deleteBody,
    headers: ['ifMatch', 'changeReason'],
    responses: { 204: 'Discarded', 404: notFound, 412: '`version_mismatch`' },
    handler: async (ctx, { auth, params, body }) => {
      await commands.discard(auth.userId, params.id, expectedVersionFromIfMatch(ctx), commandCause(ctx, body.reason));
      ctx.status = 204;
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/{id}/history',
    summary: 'Every change since registration, oldest first',
    description: "Read from the sample's events: still there after the sample was discarded.",
    params: schemas.idParams,
    responses: { 200: { description: 'The history', schema: schemas.historySchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      ctx.body = { items: (await sampleHistory(store, knex, auth.userId, params.id)) ?? sampleNotFound() };
    },
  });
}
