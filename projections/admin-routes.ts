// Projection operations over HTTP, for administrators (API.md, "Audit and projections"):
//   GET  /api/v1/admin/projections                 name, position, lag, status of every read model
//   POST /api/v1/admin/projections/{name}/rebuild   202: a zero-downtime rebuild is requested; the
//        leader of the projection (in whichever process) fills fresh tables from the first event
//        while queries keep reading the old ones, then swaps them in one transaction.
//   POST /api/v1/admin/projections/{name}/resume    202: a failed projection tries its event again
//   POST /api/v1/admin/projections/{name}/skip      202: a failed projection passes over the event it
//        stopped at, named by position and type; the skip is recorded in the log (who, why).
// An unknown name is 404 `not_found`, an operation that does not fit the projection's state 409
// (ProjectionOperationError, a DomainError).
import { z } from 'zod';
import { formatPosition, parsePosition } from '../platform/eventstore/port.ts';
import { commandCause } from '../platform/http/command-cause.ts';
import type { OpenApiRegistry } from '../platform/http/openapi.ts';
import { RouteGroup } from '../platform/http/routes.ts';
import type { AppRouter } from '../platform/http/state.ts';
import type { ProjectionEngine } from './engine/index.ts';

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

const nameParams = z.object({ name: z.string().max(100) });
const requested = z.object({ name: z.string(), requestedAt: z.iso.datetime() });
const skipped = z.object({
  name: z.string(),
  position: z.string(),
  type: z.string(),
  recordedAt: z.iso.datetime(),
  recordedPosition: z.string(),
});
const notFound = '`not_found`: no such projection';

export function projectionAdminRouter(engine: ProjectionEngine, openapi: OpenApiRegistry): AppRouter {
  const routes = new RouteGroup(openapi, { tag: 'admin', description: 'Administration (role admin)' });
  routes.add({
    method: 'get',
    path: '/api/v1/admin/projections',
    summary: 'Every read model: position, lag, status',
    access: 'admin',
    responses: { 200: { description: 'Statuses', schema: z.array(statusSchema) } },
    handler: async (ctx) => {
      ctx.body = await engine.status();
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/admin/projections/{name}/rebuild',
    summary: 'Rebuild a read model from the first event, without downtime',
    access: 'admin',
    params: nameParams,
    headers: ['idempotencyKey'],
    responses: {
      202: {
        description: 'Requested; follow it in GET /admin/projections (status rebuilding, then running)',
        schema: requested,
      },
      404: notFound,
    },
    handler: async (ctx, { params: { name } }) => {
      const requestedAt = await engine.requestRebuild(name);
      ctx.status = 202;
      ctx.body = { name, requestedAt: requestedAt.toISOString() };
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/admin/projections/{name}/resume',
    summary: 'A failed read model tries its failed event again (after a fix)',
    access: 'admin',
    params: nameParams,
    responses: {
      202: { description: 'Requested; the leader tries again within a poll interval', schema: requested },
      404: notFound,
      409: '`not_failed`: the projection is not failed',
    },
    handler: async (ctx, { params: { name } }) => {
      const requestedAt = await engine.resume(name);
      ctx.status = 202;
      ctx.body = { name, requestedAt: requestedAt.toISOString() };
    },
  });
  skipRoute(routes, engine);
  return routes.router;
}

function skipRoute(routes: RouteGroup, engine: ProjectionEngine): void {
  routes.add({
    method: 'post',
    path: '/api/v1/admin/projections/{name}/skip',
    summary: 'A failed read model passes over the event it stopped at (recorded in the log)',
    description:
      'Name the event by the `failedEvent` position AND type from GET /admin/projections; anything else is refused. ' +
      'The skip is appended to the log as a `ProjectionEventSkipped` event on the stream `projection-{name}` ' +
      '(actor, reason, position, type), so every later rebuild and consistency check skips the event too.',
    access: 'admin',
    params: nameParams,
    body: skipSchema,
    responses: {
      202: { description: 'Recorded; the leader goes on past the event within a poll interval', schema: skipped },
      404: notFound,
      409:
        '`not_failed`: the projection is not failed at an event; ' +
        "`not_the_failed_event`: position or type is not the failed event's",
    },
    handler: async (ctx, { params: { name }, body }) => {
      const { position, type, reason } = body;
      const cause = { ...commandCause(ctx, reason), reason };
      const result = await engine.skip(name, { position: parsePosition(position), type, reason }, cause);
      ctx.status = 202;
      ctx.body = {
        name,
        position,
        type,
        recordedAt: result.recordedAt.toISOString(),
        recordedPosition: formatPosition(result.position),
      };
    },
  });
}
