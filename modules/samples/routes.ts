// HTTP routes of the samples module (API.md, Samples and Labs): /api/v1/samples*, each declared
// once with its schemas and documentation. A sample belongs to a lab: its viewers read it, its
// technicians change it; for anyone outside the lab it is a 404, exactly like an unknown id.
import type { Knex } from 'knex';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore } from '../../platform/eventstore/port.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import { expectedVersionFromIfMatch, setETag } from '../../platform/http/etag.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppContext, AppRouter } from '../../platform/http/state.ts';
import type { SampleCommands } from './commands.ts';
import type { SampleChanges } from './decide.ts';
import { sampleHistory } from './history.ts';
import { isFinal } from './physical/status.ts';
import * as queries from './queries.ts';
import type { SampleLocation } from './routes-location.ts';
import { ruleErrorsOfWellTypedFields, utcDate } from './rules.ts';
import * as schemas from './schemas.ts';

export interface SampleRouteOptions {
  readonly commands: SampleCommands;
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  /** The samples placed in a storage unit and below it (storage, wired in app/); none without it. */
  readonly samplesInUnit?: ((unitId: string) => Promise<string[]>) | undefined;
  /** Where samples are placed (storage, wired in app/): sample id → box, position, path; nowhere without it. */
  readonly locationsOf?: ((sampleIds: readonly string[]) => Promise<ReadonlyMap<string, SampleLocation>>) | undefined;
  /** After a sample was discarded, became final or was transferred: its box frees the slot (storage, wired in app/). */
  readonly sampleLeft?:
    ((sampleId: string, reason: 'final' | 'transferred', cause: CommandCause) => Promise<void>) | undefined;
}

const notFound = '`not_found`: unknown or deleted sample, or one of a lab the caller is not a member of';
const forbidden = "`forbidden`: the caller is a viewer of the sample's lab (changes need technician)";
const labNotFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'Lab not found.');
};
const sampleNotFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'Sample not found.');
};

/** The field rules over a body that failed its schema (create, replace): one 422 lists everything. */
const fieldRules = (raw: unknown) => ruleErrorsOfWellTypedFields(raw, new Date());

type Locations = SampleRouteOptions['locationsOf'];

/** The samples with their places in boxes (`location`, null without one): one look-up for all of them. */
async function placed(locationsOf: Locations, rows: readonly queries.SampleView[]) {
  const places = rows.length > 0 && locationsOf ? await locationsOf(rows.map((r) => r.id)) : undefined;
  return rows.map((r) => ({ ...r, location: places?.get(r.id) ?? null }));
}

/** A page of samples, each with its `location`. */
async function page(locationsOf: Locations, rows: queries.SampleView[], limit: number, total: number) {
  const items = await placed(locationsOf, rows);
  return toPage(items, limit, total, (last) => ({ collectionDate: last.collectionDate, id: last.id }));
}

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

/** The samples of the caller's labs as a whole. Fixed paths first: /stats/overview and /subject/{id} are not ids. */
function collectionRoutes(
  routes: RouteGroup,
  { commands, knex, samplesInUnit, locationsOf }: SampleRouteOptions,
): void {
  routes.add({
    method: 'get',
    path: '/api/v1/samples/stats/overview',
    summary: "Counts of the samples of the caller's labs",
    query: schemas.overviewQuery,
    responses: {
      200: {
        description: 'Counts (pre-aggregated per lab; the same cost for 10 or 100,000 samples)',
        schema: schemas.overviewSchema,
      },
      404: "`not_found`: `labId` is not one of the caller's labs",
    },
    handler: async (ctx, { auth, query }) => {
      ctx.body = (await queries.sampleOverview(knex, auth.userId, utcDate(new Date()), query.labId)) ?? labNotFound();
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/subject/{subjectId}',
    summary: "The samples of one subject in the caller's labs, newest collection first",
    params: schemas.subjectParams,
    query: schemas.subjectQuery,
    responses: {
      200: {
        description: 'A page; each sample with its place in a box',
        schema: pageSchema(schemas.placedSampleSchema),
      },
      404: "`not_found`: `labId` is not one of the caller's labs",
    },
    handler: async (ctx, { auth, params, query }) => {
      const after = decodeCursor(query.cursor, schemas.cursorSchema);
      const filter = { ...query, subjectId: params.subjectId };
      const found = await queries.listSamples(knex, auth.userId, filter, { limit: query.limit, after });
      ctx.body = await page(locationsOf, found?.rows ?? labNotFound(), query.limit, found?.total ?? 0);
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples',
    summary: 'Register a sample',
    body: schemas.createBody,
    alsoCheck: fieldRules,
    headers: ['idempotencyKey', 'changeReason'],
    responses: {
      201: { description: 'Registered; Location and ETag set', schema: schemas.sampleSchema },
      403: '`forbidden`: the caller is a viewer of that lab',
      404: "`not_found`: `labId` is not one of the caller's labs",
    },
    handler: async (ctx, { auth, body: { reason, labId = auth.userId, ...input } }) => {
      const role = await queries.roleIn(knex, auth.userId, labId);
      const sample = await commands.register(auth.userId, labId, role, input, commandCause(ctx, reason));
      ctx.set('Location', `/api/v1/samples/${sample.id}`);
      answerSample(ctx, sample, 201);
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples',
    summary: "The samples of the caller's labs, newest collection first",
    description:
      'Every lab the caller belongs to, or the one `labId` names. Filters combine (AND). ' +
      'Keyset pagination: pages neither repeat nor skip while samples are added.',
    query: schemas.listQuery,
    responses: {
      200: {
        description: 'A page; each sample with its place in a box',
        schema: pageSchema(schemas.placedSampleSchema),
      },
      404: "`not_found`: `labId` is not one of the caller's labs",
    },
    handler: async (ctx, { auth, query }) => {
      const after = decodeCursor(query.cursor, schemas.cursorSchema);
      const { unitId, ...rest } = query;
      const sampleIds = unitId === undefined ? undefined : ((await samplesInUnit?.(unitId)) ?? []);
      const found = await queries.listSamples(knex, auth.userId, { ...rest, sampleIds }, { limit: query.limit, after });
      ctx.body = await page(locationsOf, found?.rows ?? labNotFound(), query.limit, found?.total ?? 0);
    },
  });
}

/** One sample: read, change, discard, transfer, history. */
function oneSampleRoutes(
  routes: RouteGroup,
  { commands, knex, store, sampleLeft, locationsOf }: SampleRouteOptions,
): void {
  const roleOf = (userId: string) => (labId: string) => queries.roleIn(knex, userId, labId);
  const writeResponses = {
    200: { description: 'The sample after the change; ETag = version', schema: schemas.sampleSchema },
    403: forbidden,
    404: notFound,
    412: '`version_mismatch`: If-Match is stale; nothing changed',
    422: '`validation_failed` (errors[]) or `invalid_transition`',
  };
  /** PATCH and PUT: the change under If-Match; a sample it made final frees its slot. */
  const update = async (
    ctx: AppContext,
    userId: string,
    id: string,
    changes: SampleChanges,
    reason?: string | null,
  ) => {
    const cause = commandCause(ctx, reason);
    const sample = await commands.update(id, changes, expectedVersionFromIfMatch(ctx), roleOf(userId), cause);
    if (isFinal(sample.status)) await sampleLeft?.(id, 'final', cause);
    answerSample(ctx, sample);
  };
  routes.add({
    method: 'get',
    path: '/api/v1/samples/{id}',
    summary: 'One sample',
    params: schemas.idParams,
    responses: {
      200: { description: 'The sample with its place in a box; ETag = version', schema: schemas.placedSampleSchema },
      404: notFound,
    },
    handler: async (ctx, { auth, params }) => {
      const sample = (await queries.getSample(knex, auth.userId, params.id)) ?? sampleNotFound();
      const [withLocation] = await placed(locationsOf, [sample]);
      answerSample(ctx, withLocation!);
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
      await update(ctx, auth.userId, params.id, changes, reason);
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
      await update(ctx, auth.userId, params.id, changes, reason);
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
    responses: { 204: 'Discarded', 403: forbidden, 404: notFound, 412: '`version_mismatch`' },
    handler: async (ctx, { auth, params, body }) => {
      const cause = commandCause(ctx, body.reason);
      await commands.discard(params.id, expectedVersionFromIfMatch(ctx), roleOf(auth.userId), cause);
      await sampleLeft?.(params.id, 'final', cause);
      ctx.status = 204;
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples/{id}/transfer',
    summary: 'Transfer a sample to another lab (chain of custody)',
    description:
      "Technician in both labs; a reason is required. Shown in the sample's history (readable by both labs); " +
      'its storage place is cleared.',
    params: schemas.idParams,
    body: schemas.transferBody,
    headers: ['ifMatch', 'idempotencyKey', 'changeReason'],
    responses: {
      ...writeResponses,
      200: { description: 'The sample in its new lab; ETag = version', schema: schemas.sampleSchema },
      403: '`forbidden`: below technician in either lab',
      404: '`not_found`: unknown sample, or a lab the caller is not a member of',
      422: '`validation_failed`: no reason, or the sample is in that lab already',
    },
    handler: async (ctx, { auth, params, body }) => {
      const cause = commandCause(ctx, body.reason);
      const expected = expectedVersionFromIfMatch(ctx);
      const sample = await commands.transfer(params.id, body.labId, expected, roleOf(auth.userId), cause);
      await sampleLeft?.(params.id, 'transferred', cause);
      answerSample(ctx, sample);
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/{id}/history',
    summary: 'Every change since registration, oldest first',
    description:
      "Read from the sample's events: still there after the sample was discarded. Readable by the viewers " +
      'of every lab the sample has belonged to; an erased actor shows without a name.',
    params: schemas.idParams,
    responses: { 200: { description: 'The history', schema: schemas.historySchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      const items = await sampleHistory(store, knex, auth.userId, params.id, roleOf(auth.userId));
      ctx.body = { items: items ?? sampleNotFound() };
    },
  });
}
