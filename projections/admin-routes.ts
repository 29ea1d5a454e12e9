// Projection operations over HTTP, for administrators (API.md, "Audit and projections"):
//   GET  /api/v1/admin/projections                 name, position, lag, status of every read model
//   POST /api/v1/admin/projections/{name}/rebuild   202: a zero-downtime rebuild is requested; the
//        leader of the projection (in whichever process) fills fresh tables from the first event
//        while queries keep reading the old ones, then swaps them in one transaction.
//   POST /api/v1/admin/projections/{name}/resume    202: a failed projection tries its event again
//   POST /api/v1/admin/projections/{name}/skip      202: a failed projection passes over the event it
//        stopped at, named by position and type; the skip is recorded in the log (who, why).
import { z } from 'zod';
import { commandCause } from '../platform/http/command-cause.ts';
import { problemResponse, type OpenApiRegistry } from '../platform/http/openapi.ts';
import { HttpProblem } from '../platform/http/problem.ts';
import { requireAuth } from '../platform/http/require-auth.ts';
import { createRouter, type AppContext, type AppRouter } from '../platform/http/state.ts';
import { parseBody, parsePathText } from '../platform/http/validate.ts';
import { formatPosition, parsePosition } from '../platform/eventstore/port.ts';
import { ProjectionOperationError, type ProjectionEngine } from './engine/index.ts';

const statusSchema = z
  .object({
    name: z.string(),
    version: z.number().int(),
    codeVersion: z.number().int(),
    position: z.string().meta({ description: 'Checkpoint, "<commit>/<prepare>"' }),
    lagEvents: z.number().int().meta({
      description: 'Events after the checkpoint, those waiting behind an older transaction (the horizon) too',
    }),
    lagSeconds: z.number(),
    status: z.enum(['running', 'catching_up', 'rebuilding', 'retrying', 'stopped', 'failed']).meta({
      description:
        '`retrying`: an attempt failed and is retried with backoff. `failed`: an event could not be applied ' +
        'after every attempt (see failedEvent); the projection waits for resume or skip.',
    }),
    hasLeader: z.boolean(),
    lastError: z
      .string()
      .nullable()
      .meta({ description: 'The class of the last error (SQLSTATE, error name, code location); never event content' }),
    failedEvent: z
      .object({ position: z.string(), type: z.string(), attempts: z.number().int(), failedAt: z.string().nullable() })
      .nullable()
      .meta({ description: 'Status failed: the event the projection stopped at. Its content is never shown.' }),
    rebuildRequested: z.boolean(),
    eventsApplied: z.number().int(),
    lastEventAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'ProjectionStatus' });

/** Visible text: no C0/C1 control characters (but tab and newline) and no lone surrogates. */
const cleanText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(
      // eslint-disable-next-line no-control-regex -- the very characters refused
      (v) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(v) && v.isWellFormed(),
      'must be visible text',
    );

const skipSchema = z.strictObject({
  position: z
    .string()
    .regex(/^\d{1,20}\/\d{1,20}$/)
    .meta({ description: 'The failed event\'s position, "<commit>/<prepare>" (failedEvent.position)' }),
  type: z.string().min(1).max(200).meta({ description: "The failed event's type (failedEvent.type): must match too" }),
  reason: cleanText(500).meta({ description: 'Why it is skipped: recorded in the log with who skipped it' }),
});

const requireAdmin = (ctx: AppContext) => {
  const auth = requireAuth(ctx);
  if (auth.role !== 'admin') throw new HttpProblem(403, 'forbidden', 'This route is for administrators.');
  return auth;
};

function operationProblem(error: unknown): unknown {
  if (!(error instanceof ProjectionOperationError)) return error;
  return error.code === 'not_found'
    ? new HttpProblem(404, 'not_found', error.message)
    : new HttpProblem(409, error.code, error.message);
}

export function projectionAdminRouter(engine: ProjectionEngine, openapi: OpenApiRegistry): AppRouter {
  const router = createRouter({ prefix: '/api/v1/admin/projections', translateErrors: operationProblem });
  const tags = ['admin'];
  const forbidden = problemResponse('`forbidden`: not an admin');
  const notFound = problemResponse('`not_found`: no such projection');
  const named = (ctx: { params: Record<string, string | undefined> }) => {
    const name = parsePathText(ctx.params.name, 'name', 100);
    if (!engine.projections.some((p) => p.name === name)) {
      throw new HttpProblem(404, 'not_found', 'No such projection.');
    }
    return name;
  };

  openapi.add('get', '/api/v1/admin/projections', {
    tags,
    summary: 'Every read model: position, lag, status',
    responses: {
      '200': { description: 'Statuses', content: { 'application/json': { schema: z.array(statusSchema) } } },
      '403': forbidden,
    },
  });
  router.get('/', async (ctx) => {
    requireAdmin(ctx);
    ctx.body = await engine.status();
  });

  openapi.add(
    'post',
    '/api/v1/admin/projections/{name}/rebuild',
    {
      tags,
      summary: 'Rebuild a read model from the first event, without downtime',
      requestParams: { path: z.object({ name: z.string() }) },
      responses: {
        '202': {
          description: 'Requested; follow it in GET /admin/projections (status rebuilding, then running)',
          content: { 'application/json': { schema: z.object({ name: z.string(), requestedAt: z.iso.datetime() }) } },
        },
        '403': forbidden,
        '404': notFound,
      },
    },
    { headers: ['idempotencyKey'] },
  );
  router.post('/:name/rebuild', async (ctx) => {
    requireAdmin(ctx);
    const name = named(ctx);
    const requestedAt = await engine.requestRebuild(name);
    ctx.status = 202;
    ctx.body = { name, requestedAt: requestedAt.toISOString() };
  });

  openapi.add('post', '/api/v1/admin/projections/{name}/resume', {
    tags,
    summary: 'A failed read model tries its failed event again (after a fix)',
    requestParams: { path: z.object({ name: z.string() }) },
    responses: {
      '202': {
        description: 'Requested; the leader tries again within a poll interval',
        content: { 'application/json': { schema: z.object({ name: z.string(), requestedAt: z.iso.datetime() }) } },
      },
      '403': forbidden,
      '404': notFound,
      '409': problemResponse('`not_failed`: the projection is not failed'),
    },
  });
  router.post('/:name/resume', async (ctx) => {
    requireAdmin(ctx);
    const name = named(ctx);
    const requestedAt = await engine.resume(name);
    ctx.status = 202;
    ctx.body = { name, requestedAt: requestedAt.toISOString() };
  });

  openapi.add('post', '/api/v1/admin/projections/{name}/skip', {
    tags,
    summary: 'A failed read model passes over the event it stopped at (recorded in the log)',
    description:
      'Name the event by the `failedEvent` position AND type from GET /admin/projections; anything else is refused. ' +
      'The skip is appended to the log as a `ProjectionEventSkipped` event on the stream `projection-{name}` ' +
      '(actor, reason, position, type), ' +
      'so every later rebuild and consistency check skips the event too.',
    requestParams: { path: z.object({ name: z.string() }) },
    requestBody: { content: { 'application/json': { schema: skipSchema } } },
    responses: {
      '202': {
        description: 'Recorded; the leader goes on past the event within a poll interval',
        content: {
          'application/json': {
            schema: z.object({
              name: z.string(),
              position: z.string(),
              type: z.string(),
              recordedAt: z.iso.datetime(),
              recordedPosition: z.string(),
            }),
          },
        },
      },
      '403': forbidden,
      '404': notFound,
      '409': problemResponse(
        '`not_failed`: the projection is not failed at an event; ' +
          "`not_the_failed_event`: position or type is not the failed event's",
      ),
    },
  });
  router.post('/:name/skip', async (ctx) => {
    requireAdmin(ctx);
    const name = named(ctx);
    const body = parseBody(ctx, skipSchema);
    const skipped = await engine.skip(
      name,
      { position: parsePosition(body.position), type: body.type, reason: body.reason },
      { ...commandCause(ctx, body.reason), reason: body.reason },
    );
    ctx.status = 202;
    ctx.body = {
      name,
      position: body.position,
      type: body.type,
      recordedAt: skipped.recordedAt.toISOString(),
      recordedPosition: formatPosition(skipped.position),
    };
  });
  return router;
}
