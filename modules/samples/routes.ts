// HTTP routes of the samples module (API.md, Samples): /api/v1/samples*. Every route is
// owner-only: another user's sample is 404, exactly like an unknown id.
import type { Knex } from 'knex';
import { z } from 'zod';
import type { EventStore } from '../../platform/eventstore/port.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import { expectedVersionFromIfMatch, setETag, versionMismatch } from '../../platform/http/etag.ts';
import { jsonContent, problemResponse, type OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, paginationQuery, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { requireAuth } from '../../platform/http/require-auth.ts';
import { createRouter, type AppRouter } from '../../platform/http/state.ts';
import { parseBody, parseId, parsePathText, parseQuery } from '../../platform/http/validate.ts';
import { isoDate } from '../../platform/text.ts';
import type { SampleCommands } from './commands.ts';
import { SampleDomainError, sampleErrorStatus } from './decide.ts';
import { sampleStatuses, sampleTypes } from './events.ts';
import { sampleHistory } from './history.ts';
import * as queries from './queries.ts';
import { MAX_NOTES_LENGTH, ruleErrorsOfWellTypedFields, utcDate } from './rules.ts';

export interface SampleRouteOptions {
  readonly commands: SampleCommands;
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
}

// --- schemas ------------------------------------------------------------------------------------

const sampleType = z.enum(sampleTypes).meta({ description: 'blood | saliva | tissue' });
const status = z.enum(sampleStatuses).meta({ description: 'collected | processing | archived' });
const subjectId = z.string().max(32).meta({ description: 'One capital letter and 3+ digits', example: 'P001' });
const collectionDate = z.string().max(10).meta({ description: 'YYYY-MM-DD; not in the future, not older than 10 years', example: '2026-11-02' });
const storageLocation = z
  .string()
  .max(64)
  .nullable()
  .meta({ description: 'freezer-<n>-row<X> or shelf-<n>; required (a freezer) for tissue', example: 'freezer-3-rowB' });
const notes = z.string().max(MAX_NOTES_LENGTH).nullable();
const reason = z.string().max(500).optional().meta({ description: 'Why (stored in the event metadata and history); X-Change-Reason wins' });

const createBody = z.strictObject({
  sampleType,
  subjectId,
  collectionDate,
  status: status.optional().meta({ description: 'Defaults to collected' }),
  storageLocation: storageLocation.optional(),
  notes: notes.optional(),
  reason,
});
const patchBody = z
  .strictObject({
    sampleType: sampleType.optional(),
    subjectId: subjectId.optional(),
    collectionDate: collectionDate.optional(),
    status: status.optional(),
    storageLocation: storageLocation.optional(),
    notes: notes.optional(),
    reason,
  })
  .refine((b) => Object.keys(b).some((k) => k !== 'reason'), { message: 'send at least one field to change' });
const putBody = z.strictObject({
  sampleType,
  subjectId,
  collectionDate,
  status,
  storageLocation: storageLocation.optional().meta({ description: 'Absent means none' }),
  notes: notes.optional().meta({ description: 'Absent means none' }),
  reason,
});
const deleteBody = z.strictObject({ reason });

export const sampleSchema = z
  .object({
    id: z.uuid(),
    sampleType,
    subjectId: z.string(),
    collectionDate: z.iso.date(),
    status,
    storageLocation: z.string().nullable(),
    notes: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    version: z.number().int().meta({ description: 'Events in the sample\'s stream; the ETag' }),
  })
  .meta({ id: 'Sample' });

const listQuery = z.strictObject({
  ...paginationQuery,
  status: status.optional(),
  sampleType: sampleType.optional(),
  subjectId: z.string().max(32).optional(),
  collectedFrom: isoDate().optional().meta({ description: 'Inclusive; 1900–9999' }),
  collectedTo: isoDate().optional().meta({ description: 'Inclusive; 1900–9999' }),
});
const subjectQuery = z.strictObject({
  ...paginationQuery,
  status: status.optional(),
  sampleType: sampleType.optional(),
  collectedFrom: isoDate().optional(),
  collectedTo: isoDate().optional(),
});
const cursorSchema = z.object({ collectionDate: isoDate(), id: z.uuid() });
const overviewSchema = z
  .object({
    total: z.number().int(),
    byStatus: z.object({ collected: z.number().int(), processing: z.number().int(), archived: z.number().int() }),
    byType: z.object({ blood: z.number().int(), saliva: z.number().int(), tissue: z.number().int() }),
    collectedLast30Days: z.number().int().meta({ description: 'Samples whose collection date is within the 30 days ending today (UTC)' }),
  })
  .meta({ id: 'SampleOverview' });
const historySchema = z
  .object({
    items: z.array(
      z.object({
        version: z.number().int(),
        type: z.string(),
        occurredAt: z.iso.datetime(),
        actor: z.object({ id: z.string().nullable(), username: z.string().nullable() }),
        requestId: z.string().nullable(),
        reason: z.string().nullable(),
        changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
      }),
    ),
  })
  .meta({ id: 'SampleHistory' });

const json = jsonContent;
const problem = problemResponse;
const idParam = z.object({ id: z.uuid() });
const notFound = problem('`not_found`: unknown, deleted, or another user\'s sample');

// --- helpers --------------------------------------------------------------------------------------

/** Samples' domain errors as problems (the router's error translation); anything else unchanged. */
function domainProblem(error: unknown): unknown {
  if (!(error instanceof SampleDomainError)) return error;
  if (error.code === 'version_mismatch' && error.currentVersion !== undefined) return versionMismatch(error.currentVersion);
  const detail = error.message.charAt(0).toUpperCase() + error.message.slice(1) + '.';
  return new HttpProblem(sampleErrorStatus[error.code], error.code, detail, error.errors.length > 0 ? { errors: error.errors } : {});
}

/** The field rules over a body that failed its schema (create, replace): one 422 lists everything. */
const fieldRules = (raw: unknown) => ruleErrorsOfWellTypedFields(raw, new Date());

const sampleNotFound = () => new HttpProblem(404, 'not_found', 'Sample not found.');

export function sampleRouters(options: SampleRouteOptions): AppRouter[] {
  const { commands, knex, store, openapi } = options;
  const router = createRouter({ prefix: '/api/v1/samples', translateErrors: domainProblem });
  openapi.tag('samples', 'Clinical samples: register, find, count, correct, move, discard; full history');
  const tags = ['samples'];

  // Fixed paths first: /stats/overview and /subject/{id} must not be taken for /{id}.
  openapi.add('get', '/api/v1/samples/stats/overview', {
    tags,
    summary: "Counts of the caller's samples",
    responses: { '200': { description: 'Counts (pre-aggregated; the same cost for 10 or 100,000 samples)', ...json(overviewSchema) } },
  });
  router.get('/stats/overview', async (ctx) => {
    const auth = requireAuth(ctx);
    ctx.body = await queries.sampleOverview(knex, auth.userId, utcDate(new Date()));
  });

  openapi.add('get', '/api/v1/samples/subject/{subjectId}', {
    tags,
    summary: "The caller's samples of one subject, newest collection first",
    requestParams: { path: z.object({ subjectId: z.string() }), query: subjectQuery },
    responses: { '200': { description: 'A page', ...json(pageSchema(sampleSchema)) } },
  });
  router.get('/subject/:subjectId', async (ctx) => {
    const auth = requireAuth(ctx);
    const q = parseQuery(ctx, subjectQuery);
    const subject = parsePathText(ctx.params.subjectId, 'subjectId', 32);
    const after = decodeCursor(q.cursor, cursorSchema);
    const { rows, total } = await queries.listSamples(knex, auth.userId, { ...q, subjectId: subject }, { limit: q.limit, after });
    ctx.body = toPage(rows, q.limit, total, (last) => ({ collectionDate: last.collectionDate, id: last.id }));
  });

  openapi.add(
    'post',
    '/api/v1/samples',
    {
      tags,
      summary: 'Register a sample',
      requestBody: json(createBody),
      responses: { '201': { description: 'Registered; Location and ETag set', ...json(sampleSchema) } },
    },
    { headers: ['idempotencyKey', 'changeReason'] },
  );
  router.post('/', async (ctx) => {
    const auth = requireAuth(ctx);
    const { reason: bodyReason, ...input } = parseBody(ctx, createBody, fieldRules);
    const sample = await commands.register(auth.userId, input, commandCause(ctx, bodyReason));
    ctx.status = 201;
    ctx.set('Location', `/api/v1/samples/${sample.id}`);
    setETag(ctx, sample.version);
    ctx.body = sample;
  });

  openapi.add('get', '/api/v1/samples', {
    tags,
    summary: "The caller's samples, newest collection first",
    description: 'Filters combine (AND). Keyset pagination: pages neither repeat nor skip while samples are added.',
    requestParams: { query: listQuery },
    responses: { '200': { description: 'A page', ...json(pageSchema(sampleSchema)) } },
  });
  router.get('/', async (ctx) => {
    const auth = requireAuth(ctx);
    const q = parseQuery(ctx, listQuery);
    const after = decodeCursor(q.cursor, cursorSchema);
    const { rows, total } = await queries.listSamples(knex, auth.userId, q, { limit: q.limit, after });
    ctx.body = toPage(rows, q.limit, total, (last) => ({ collectionDate: last.collectionDate, id: last.id }));
  });

  openapi.add('get', '/api/v1/samples/{id}', {
    tags,
    summary: 'One sample',
    requestParams: { path: idParam },
    responses: { '200': { description: 'The sample; ETag = version', ...json(sampleSchema) }, '404': notFound },
  });
  router.get('/:id', async (ctx) => {
    const auth = requireAuth(ctx);
    const sample = await queries.getSample(knex, auth.userId, parseId(ctx.params.id));
    if (!sample) throw sampleNotFound();
    setETag(ctx, sample.version);
    ctx.body = sample;
  });

  const writeResponses = {
    '200': { description: 'The sample after the change; ETag = version', ...json(sampleSchema) },
    '404': notFound,
    '412': problem('`version_mismatch`: If-Match is stale; nothing changed'),
    '422': problem('`validation_failed` (errors[]) or `invalid_transition`'),
  };
  openapi.add(
    'patch',
    '/api/v1/samples/{id}',
    {
      tags,
      summary: 'Change some fields',
      description: 'Each kind of change is its own event (details corrected, moved, status changed), appended together. Without If-Match a concurrent change is retried on the fresh state, never lost.',
      requestParams: { path: idParam },
      requestBody: json(patchBody),
      responses: writeResponses,
    },
    { headers: ['ifMatch', 'changeReason'] },
  );
  router.patch('/:id', async (ctx) => {
    const auth = requireAuth(ctx);
    const id = parseId(ctx.params.id);
    const expected = expectedVersionFromIfMatch(ctx);
    const { reason: bodyReason, ...changes } = parseBody(ctx, patchBody);
    const sample = await commands.update(auth.userId, id, changes, expected, commandCause(ctx, bodyReason));
    setETag(ctx, sample.version);
    ctx.body = sample;
  });

  openapi.add(
    'put',
    '/api/v1/samples/{id}',
    {
      tags,
      summary: 'Replace the editable fields',
      requestParams: { path: idParam },
      requestBody: json(putBody),
      responses: writeResponses,
    },
    { headers: ['ifMatch', 'changeReason'] },
  );
  router.put('/:id', async (ctx) => {
    const auth = requireAuth(ctx);
    const id = parseId(ctx.params.id);
    const expected = expectedVersionFromIfMatch(ctx);
    const { reason: bodyReason, ...body } = parseBody(ctx, putBody, fieldRules);
    const changes = { ...body, storageLocation: body.storageLocation ?? null, notes: body.notes ?? null };
    const sample = await commands.update(auth.userId, id, changes, expected, commandCause(ctx, bodyReason));
    setETag(ctx, sample.version);
    ctx.body = sample;
  });

  openapi.add(
    'delete',
    '/api/v1/samples/{id}',
    {
      tags,
      summary: 'Discard a sample',
      description: 'It leaves every list and statistic; its history stays readable.',
      requestParams: { path: idParam },
      responses: { '204': { description: 'Discarded' }, '404': notFound, '412': problem('`version_mismatch`') },
    },
    { headers: ['ifMatch', 'changeReason'] },
  );
  router.delete('/:id', async (ctx) => {
    const auth = requireAuth(ctx);
    const id = parseId(ctx.params.id);
    const expected = expectedVersionFromIfMatch(ctx);
    const body = parseBody(ctx, deleteBody);
    await commands.discard(auth.userId, id, expected, commandCause(ctx, body.reason));
    ctx.status = 204;
  });

  openapi.add('get', '/api/v1/samples/{id}/history', {
    tags,
    summary: 'Every change since registration, oldest first',
    description: 'Read from the sample\'s events: still there after the sample was discarded.',
    requestParams: { path: idParam },
    responses: { '200': { description: 'The history', ...json(historySchema) }, '404': notFound },
  });
  router.get('/:id/history', async (ctx) => {
    const auth = requireAuth(ctx);
    const id = parseId(ctx.params.id);
    const items = await sampleHistory(store, knex, auth.userId, id);
    if (!items) throw sampleNotFound();
    ctx.body = { items };
  });

  return [router];
}
