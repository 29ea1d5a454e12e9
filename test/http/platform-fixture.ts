// A small app on the HTTP platform for the platform-*.test.ts files: a test router that exercises
// every helper, a fake authentication (header x-test-user), log lines captured in memory.
import type { Middleware } from 'koa';
import { z } from 'zod';
import { createHttpApp, type HttpAppOptions } from '../../platform/http/app.ts';
import { changeReason } from '../../platform/http/change-reason.ts';
import { DomainError } from '../../platform/commands/decision.ts';
import { expectedVersionFromIfMatch, setETag } from '../../platform/http/etag.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, paginationQuery, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem, type ProblemBody } from '../../platform/http/problem.ts';
import { requireAuth } from '../../platform/http/require-auth.ts';
import { createRouter, stateOf, type AppRouter } from '../../platform/http/state.ts';
import { parseBody, parseParams, parseQuery } from '../../platform/http/validate.ts';
import { listen, type RunningApp } from '../support/http.ts';
import { captureLogs, type CapturedLogs } from '../support/logs.ts';

/** Sets ctx.state.auth from the x-test-user header, as the identity module will from a token. */
export const fakeAuthentication: Middleware = async (ctx, next) => {
  const user = ctx.get('x-test-user');
  if (user) stateOf(ctx).auth = { userId: user, username: user, role: 'user', actorType: 'user' };
  await next();
};

export const itemSchema = z.strictObject({
  name: z.string().min(1).max(20),
  count: z.number().int().min(0),
  tags: z.array(z.string().max(5)).optional(),
  reason: z.string().optional(),
});

export const ITEM_VERSION = 3;
const ITEMS = Array.from({ length: 45 }, (_, i) => ({ n: i + 1 }));

export interface TestRouter {
  readonly router: AppRouter;
  readonly calls: { items: number; slow: number; flaky: number };
}

export function testRouter(openapi: OpenApiRegistry): TestRouter {
  const calls = { items: 0, slow: 0, flaky: 0 };
  const router = createRouter({ prefix: '/api/v1' });
  openapi.tag('items', 'Test items');
  openapi.add(
    'post',
    '/api/v1/items',
    {
      tags: ['items'],
      summary: 'Create an item',
      requestBody: { content: { 'application/json': { schema: itemSchema } } },
      responses: {
        '201': {
          description: 'Created',
          content: { 'application/json': { schema: itemSchema.extend({ n: z.number() }) } },
        },
      },
    },
    { headers: ['idempotencyKey', 'changeReason'] },
  );
  openapi.add('get', '/api/v1/items', {
    tags: ['items'],
    summary: 'List items',
    requestParams: { query: z.strictObject({ ...paginationQuery }) },
    responses: {
      '200': {
        description: 'A page',
        content: { 'application/json': { schema: pageSchema(z.object({ n: z.number() })) } },
      },
    },
  });

  router.post('/items', (ctx) => {
    const body = parseBody(ctx, itemSchema);
    calls.items += 1;
    ctx.status = 201;
    ctx.set('Location', `/api/v1/items/${calls.items}`);
    ctx.body = {
      ...body,
      n: calls.items,
      reason: changeReason(ctx, body.reason),
      user: stateOf(ctx).auth?.userId ?? null,
    };
  });
  router.get('/items', (ctx) => {
    const query = parseQuery(ctx, z.strictObject({ ...paginationQuery, status: z.enum(['a', 'b']).optional() }));
    const after = decodeCursor(query.cursor, z.strictObject({ n: z.number().int() }));
    const rows = ITEMS.filter((item) => after === undefined || item.n > after.n).slice(0, query.limit + 1);
    ctx.body = toPage(rows, query.limit, ITEMS.length, (last) => ({ n: last.n }));
  });
  router.get('/items/:id', (ctx) => {
    const { id } = parseParams(ctx, z.object({ id: z.uuid() }));
    setETag(ctx, ITEM_VERSION);
    ctx.body = { id };
  });
  router.patch('/items/:id', (ctx) => {
    const expected = expectedVersionFromIfMatch(ctx);
    if (expected !== undefined && expected !== ITEM_VERSION)
      throw new DomainError({ code: 'version_mismatch', message: 'stale', currentVersion: ITEM_VERSION });
    ctx.body = { ok: true, expected: expected ?? null };
  });
  router.post('/slow', async (ctx) => {
    calls.slow += 1;
    await new Promise((resolve) => setTimeout(resolve, 400));
    ctx.status = 201;
    ctx.body = { n: calls.slow };
  });
  router.post('/flaky', (ctx) => {
    calls.flaky += 1;
    if (calls.flaky === 1) throw new HttpProblem(503, 'upstream_failed', 'Try again.');
    ctx.status = 201;
    ctx.body = { n: calls.flaky };
  });
  router.post('/no-content', (ctx) => {
    ctx.status = 204;
  });
  router.get('/whoami', (ctx) => {
    const auth = requireAuth(ctx);
    const state = stateOf(ctx);
    ctx.body = { userId: auth.userId, requestId: state.requestId, traceparent: state.traceparent };
  });
  router.get('/boom', () => {
    throw new Error('SELECT password_hash FROM users WHERE token = $1 -- internal detail');
  });
  router.get('/conflict', () => {
    throw new HttpProblem(409, 'username_taken', 'That username is taken.');
  });
  return { router, calls };
}

export interface TestApp extends RunningApp {
  readonly calls: TestRouter['calls'];
  readonly logs: CapturedLogs;
  readonly openapi: OpenApiRegistry;
}

export async function startTestApp(options: Partial<HttpAppOptions> = {}, logs = captureLogs()): Promise<TestApp> {
  const openapi = options.openapi ?? new OpenApiRegistry();
  const { router, calls } = testRouter(openapi);
  const running = await listen(
    createHttpApp({
      logger: logs.logger,
      bodyLimitBytes: 1024,
      trustProxy: false,
      openapi,
      readinessChecks: [],
      authenticate: fakeAuthentication,
      routers: [router],
      ...options,
    }),
  );
  return { ...running, calls, logs, openapi };
}

/** What a problem+json answer looks like: the platform's own type, so tests and code cannot drift. */
export type ProblemJson = ProblemBody;

/** Asserts the RFC 9457 shape, the status and code, and the request id agreeing with the header. */
export async function expectProblem(
  t: { is(a: unknown, b: unknown, m?: string): void; regex(s: string, r: RegExp, m?: string): void },
  response: Response,
  status: number,
  code: string,
): Promise<ProblemJson> {
  t.is(response.status, status, `status of ${code}`);
  t.regex(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = (await response.json()) as ProblemJson;
  t.is(body.status, status);
  t.is(body.code, code);
  t.is(body.type, `/problems/${code}`);
  t.is(typeof body.title, 'string');
  t.is(typeof body.detail, 'string');
  t.regex(response.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,128}$/);
  t.is(body.requestId, response.headers.get('x-request-id'));
  return body;
}

export const postJson = (app: RunningApp, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${app.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
