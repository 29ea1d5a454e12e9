// POST /samples/bulk: one status change, or disposal, for up to 1,000 samples, each through the
// samples command pipeline as its own command (its own role check and rules), with a result per id.
// A refused id does not stop the others. Until physical samples (with their disposal) are merged,
// `dispose` is the samples module's discard. Wired here: the samples module's commands, declared
// beside the export.
import type { Knex } from 'knex';
import { z } from 'zod';
import { DomainError } from '../platform/commands/decision.ts';
import type { EventStore } from '../platform/eventstore/port.ts';
import { commandCause } from '../platform/http/command-cause.ts';
import type { OpenApiRegistry } from '../platform/http/openapi.ts';
import { RouteGroup } from '../platform/http/routes.ts';
import type { AppRouter } from '../platform/http/state.ts';
import { createSampleCommands } from '../modules/samples/commands.ts';
import { sampleStatuses } from '../modules/samples/events.ts';
import { roleIn } from '../modules/samples/queries.ts';

export const MAX_BULK_IDS = 1000;

export const bulkBody = z.strictObject({
  action: z.enum(['status', 'dispose']),
  ids: z
    .array(z.uuid().overwrite((id) => id.toLowerCase()))
    .min(1)
    .max(MAX_BULK_IDS),
  status: z.enum(sampleStatuses).optional().meta({ description: 'Required for action status' }),
  reason: z.string().max(500).optional(),
});

const bulkAnswer = z.object({
  items: z.array(z.object({ id: z.uuid(), ok: z.boolean(), code: z.string().optional() })),
});

export function sampleBulkRouter(knex: Knex, store: EventStore, openapi: OpenApiRegistry): AppRouter {
  // Each command does not wait for the read model: a thousand waits would be a thousand polls.
  const commands = createSampleCommands({ store, waitForReadModel: () => Promise.resolve(true) });
  const routes = new RouteGroup(openapi, {
    tag: 'imports',
    description: 'CSV imports of samples as jobs: a dry run, an error report, atomic or best-effort',
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples/bulk',
    summary: 'Change the status of, or dispose of, up to 1,000 samples; a result per id',
    body: bulkBody,
    alsoCheck: (raw) =>
      typeof raw === 'object' && raw !== null && (raw as { action?: unknown }).action === 'status' && !('status' in raw)
        ? [{ path: 'status', message: 'is required for action status' }]
        : [],
    headers: ['changeReason'],
    responses: {
      200: { description: 'A result per id, in order', schema: bulkAnswer },
      422: '`validation_failed`: no ids, more than 1,000, or action status without a status',
    },
    handler: async (ctx, { auth, body }) => {
      if (body.action === 'status' && !body.status)
        throw new DomainError({
          code: 'validation_failed',
          message: 'action status needs a status',
          errors: [{ path: 'status', message: 'is required for action status' }],
        });
      const cause = commandCause(ctx, body.reason);
      const role = (labId: string) => roleIn(knex, auth.userId, labId);
      const items = [];
      for (const id of [...new Set(body.ids)]) {
        try {
          if (body.action === 'status') await commands.update(id, { status: body.status }, undefined, role, cause);
          else await commands.discard(id, undefined, role, cause);
          items.push({ id, ok: true });
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          items.push({ id, ok: false, code: error.code });
        }
      }
      ctx.body = { items };
    },
  });
  return routes.router;
}
