// Projection operations over HTTP, for administrators (API.md, "Audit and projections"):
//   GET  /api/v1/admin/projections                 name, position, lag, status of every read model
//   POST /api/v1/admin/projections/{name}/rebuild   202: a zero-downtime rebuild is requested; the
//        leader of the projection (in whichever process) fills fresh tables from the first event
//        while queries keep reading the old ones, then swaps them in one transaction.
import { z } from 'zod';
import { problemResponse, type OpenApiRegistry } from '../platform/http/openapi.ts';
import { HttpProblem } from '../platform/http/problem.ts';
import { requireAuth } from '../platform/http/require-auth.ts';
import { createRouter, type AppContext, type AppRouter } from '../platform/http/state.ts';
import { parsePathText } from '../platform/http/validate.ts';
import type { ProjectionEngine } from './engine/index.ts';

const statusSchema = z
  .object({
    name: z.string(),
    version: z.number().int(),
    codeVersion: z.number().int(),
    position: z.string().meta({ description: 'Checkpoint, "<commit>/<prepare>"' }),
    lagEvents: z.number().int(),
    lagSeconds: z.number(),
    status: z.enum(['running', 'catching_up', 'rebuilding', 'stopped', 'failed']),
    hasLeader: z.boolean(),
    lastError: z.string().nullable(),
    rebuildRequested: z.boolean(),
    eventsApplied: z.number().int(),
    lastEventAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'ProjectionStatus' });

const requireAdmin = (ctx: AppContext) => {
  const auth = requireAuth(ctx);
  if (auth.role !== 'admin') throw new HttpProblem(403, 'forbidden', 'This route is for administrators.');
  return auth;
};

export function projectionAdminRouter(engine: ProjectionEngine, openapi: OpenApiRegistry): AppRouter {
  const router = createRouter({ prefix: '/api/v1/admin/projections' });
  const tags = ['admin'];
  const forbidden = problemResponse('`forbidden`: not an admin');

  openapi.add('get', '/api/v1/admin/projections', {
    tags,
    summary: 'Every read model: position, lag, status',
    responses: { '200': { description: 'Statuses', content: { 'application/json': { schema: z.array(statusSchema) } } }, '403': forbidden },
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
        '202': { description: 'Requested; follow it in GET /admin/projections (status rebuilding, then running)', content: { 'application/json': { schema: z.object({ name: z.string(), requestedAt: z.iso.datetime() }) } } },
        '403': forbidden,
        '404': problemResponse('`not_found`: no such projection'),
      },
    },
    { headers: ['idempotencyKey'] },
  );
  router.post('/:name/rebuild', async (ctx) => {
    requireAdmin(ctx);
    const name = parsePathText(ctx.params.name, 'name', 100);
    if (!engine.projections.some((p) => p.name === name)) throw new HttpProblem(404, 'not_found', `No projection named ${name}.`);
    const requestedAt = await engine.requestRebuild(name);
    ctx.status = 202;
    ctx.body = { name, requestedAt: requestedAt.toISOString() };
  });
  return router;
}
