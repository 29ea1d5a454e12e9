// The HTTP platform over real HTTP: request ids, problem+json for every failure class, body
// limits, validation, ETag helpers, idempotency (real Postgres), rate limits (memory and Redis),
// health, OpenAPI and log redaction.
import test, { type ExecutionContext } from 'ava';
import { Writable } from 'node:stream';
import Router from '@koa/router';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Knex } from 'knex';
import { createHttpApp } from '../../platform/http/app.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { parseBody, parseId, parseQuery } from '../../platform/http/validate.ts';
import { ifMatchVersion, setETag, versionMismatch } from '../../platform/http/etag.ts';
import { changeReason } from '../../platform/http/change-reason.ts';
import { idempotencyMiddleware } from '../../platform/http/idempotency.ts';
import { memoryBackend, rateLimit } from '../../platform/http/rate-limit.ts';
import { createLogger } from '../../platform/logging.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import type { AppState } from '../../platform/http/state.ts';
import { createTestDatabase, redisSkipReason, testRedisUrl, type TestDatabase } from '../support/database.ts';
import { listen, type RunningApp } from '../support/http.ts';

const logLines: string[] = [];
const logger = createLogger({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(chunk.toString()); done(); } }));

let db: TestDatabase;
let knex: Knex;
let app: RunningApp;
let handled = 0;
let slowHandled = 0;
let failingCheck = false;

const itemSchema = z.strictObject({ name: z.string().min(1).max(20), count: z.number().int().min(0) });

test.before(async () => {
  db = await createTestDatabase();
  knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  const openapi = new OpenApiRegistry();
  openapi.add('post', '/api/v1/items', { summary: 'Create an item', requestBody: { content: { 'application/json': { schema: itemSchema } } }, responses: { '201': { description: 'created' } } });
  const router = new Router({ prefix: '/api/v1' });
  router.post('/items', (ctx) => {
    const body = parseBody(ctx, itemSchema);
    handled += 1;
    ctx.status = 201;
    ctx.set('Location', `/api/v1/items/${handled}`);
    ctx.body = { ...body, n: handled, reason: changeReason(ctx) };
  });
  router.post('/slow', async (ctx) => {
    slowHandled += 1;
    await new Promise((r) => setTimeout(r, 300));
    ctx.status = 201;
    ctx.body = { n: slowHandled };
  });
  router.get('/items', (ctx) => {
    const query = parseQuery(ctx, z.strictObject({ status: z.enum(['a', 'b']).optional() }));
    ctx.body = { query };
  });
  router.get('/items/:id', (ctx) => {
    const id = parseId(ctx.params.id);
    setETag(ctx, 3);
    ctx.body = { id };
  });
  router.patch('/items/:id', (ctx) => {
    const expected = ifMatchVersion(ctx);
    if (expected !== undefined && expected !== 3) throw versionMismatch(3);
    ctx.body = { ok: true };
  });
  router.get('/boom', () => {
    throw new Error('SELECT secret FROM passwords -- internal detail');
  });
  router.get('/conflict', () => {
    throw new HttpProblem(409, 'username_taken', 'That username is taken.');
  });
  router.get('/limited', (ctx) => {
    ctx.body = { ok: true };
  });
  const limiter = rateLimit(memoryBackend(), { name: 'test', max: 3, durationMs: 60_000, key: (ctx) => (ctx.path === '/api/v1/limited' ? 'one-client' : false) });
  const fakeAuth = async (ctx: { state: AppState; get(name: string): string }, next: () => Promise<void>) => {
    const user = ctx.get('x-test-user');
    if (user) ctx.state.auth = { userId: user, username: user, role: 'user', actorType: 'user' };
    await next();
  };
  app = await listen(
    createHttpApp({
      logger,
      bodyLimitBytes: 1024,
      trustProxy: false,
      openapi,
      readinessChecks: [
        { name: 'database', check: async () => { await knex.raw('select 1'); } },
        { name: 'flaky', check: () => (failingCheck ? Promise.reject(new Error('flaky is down')) : Promise.resolve({ lag: 0 })) },
      ],
      authenticate: fakeAuth as never,
      middleware: [limiter, idempotencyMiddleware(knex, 24)],
      routers: [router],
    }),
  );
});

test.after.always(async () => {
  await app?.close();
  await knex?.destroy();
  await db?.drop();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function expectProblem(t: ExecutionContext, response: Response, status: number, code: string) {
  t.is(response.status, status);
  t.regex(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = (await response.json()) as Record<string, unknown>;
  t.is(body.status, status);
  t.is(body.code, code);
  t.is(body.type, `/problems/${code}`);
  t.is(typeof body.title, 'string');
  t.is(typeof body.detail, 'string');
  t.is(body.requestId, response.headers.get('x-request-id'));
  return body;
}

test('a valid incoming request id is kept and echoed; otherwise one is generated', async (t) => {
  const kept = await fetch(`${app.url}/health/live`, { headers: { 'x-request-id': 'client-req.42' } });
  t.is(kept.headers.get('x-request-id'), 'client-req.42');
  const replaced = await fetch(`${app.url}/health/live`, { headers: { 'x-request-id': 'bad id with spaces <script>' } });
  t.regex(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const onError = await fetch(`${app.url}/nowhere`, { headers: { 'x-request-id': 'err-1' } });
  t.is(onError.headers.get('x-request-id'), 'err-1');
});

test('unknown route 404 and wrong method 405 are problems', async (t) => {
  await expectProblem(t, await fetch(`${app.url}/api/v1/nothing-here`), 404, 'not_found');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items`, { method: 'DELETE' }), 405, 'method_not_allowed');
});

test('malformed JSON is 400, a non-JSON body 415, an oversized body 413', async (t) => {
  await expectProblem(t, await post('/api/v1/items', '{"name": "x",'), 400, 'malformed_json');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 415, 'unsupported_media_type');
  await expectProblem(t, await post('/api/v1/items', { name: 'x'.repeat(5000), count: 1 }), 413, 'payload_too_large');
});

test('validation failures are 422 with every broken rule, unknown fields included', async (t) => {
  const body = await expectProblem(t, await post('/api/v1/items', { name: '', count: -1, owner: 'me' }), 422, 'validation_failed');
  const paths = (body.errors as { path: string }[]).map((e) => e.path).sort();
  t.deepEqual(paths, ['count', 'name', 'owner']);
});

test('bad query parameters and ids are 400', async (t) => {
  await expectProblem(t, await fetch(`${app.url}/api/v1/items?status=zzz`), 400, 'invalid_query');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items?unknown=1`), 400, 'invalid_query');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items/not-a-uuid`), 400, 'invalid_id');
});

test('an unexpected error is a 500 that hides every internal detail, logged with the request id', async (t) => {
  const response = await fetch(`${app.url}/api/v1/boom`, { headers: { 'x-request-id': 'boom-1' } });
  const body = await expectProblem(t, response, 500, 'internal_error');
  t.notRegex(JSON.stringify(body), /SELECT|passwords|at .*\.ts/);
  t.true(logLines.some((line) => line.includes('"requestId":"boom-1"') && line.includes('unhandled error')));
});

test('route problems keep their status and code', async (t) => {
  await expectProblem(t, await fetch(`${app.url}/api/v1/conflict`), 409, 'username_taken');
});

test('ETag and If-Match: matching passes, stale is 412, malformed is 400', async (t) => {
  const id = '2b0c0e3a-9a43-4d5e-8d35-1f0e9a7c1a11';
  const get = await fetch(`${app.url}/api/v1/items/${id}`);
  t.is(get.headers.get('etag'), '"3"');
  const ok = await fetch(`${app.url}/api/v1/items/${id}`, { method: 'PATCH', headers: { 'if-match': '"3"', 'content-type': 'application/json' }, body: '{}' });
  t.is(ok.status, 200);
  const stale = await fetch(`${app.url}/api/v1/items/${id}`, { method: 'PATCH', headers: { 'if-match': '"2"', 'content-type': 'application/json' }, body: '{}' });
  await expectProblem(t, stale, 412, 'version_mismatch');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items/${id}`, { method: 'PATCH', headers: { 'if-match': 'three' } }), 400, 'invalid_if_match');
});

test('change reason from the header, limited to 500 characters', async (t) => {
  const ok = await post('/api/v1/items', { name: 'r', count: 1 }, { 'x-change-reason': 'Re-analysis%20requested' });
  t.is(((await ok.json()) as { reason: string }).reason, 'Re-analysis requested');
  await expectProblem(t, await post('/api/v1/items', { name: 'r', count: 1 }, { 'x-change-reason': 'x'.repeat(501) }), 422, 'validation_failed');
});

test.serial('Idempotency-Key: a repeat returns the first answer and runs nothing; another body is 422', async (t) => {
  const headers = { 'x-test-user': 'user-a', 'idempotency-key': 'create-1' };
  const first = await post('/api/v1/items', { name: 'once', count: 1 }, headers);
  t.is(first.status, 201);
  const firstBody = await first.json();
  const before = handled;
  const repeat = await post('/api/v1/items', { name: 'once', count: 1 }, headers);
  t.is(repeat.status, 201);
  t.deepEqual(await repeat.json(), firstBody);
  t.is(repeat.headers.get('location'), first.headers.get('location'));
  t.is(handled, before, 'the handler did not run again');
  await expectProblem(t, await post('/api/v1/items', { name: 'other', count: 2 }, headers), 422, 'idempotency_key_reused');
  const otherUser = await post('/api/v1/items', { name: 'once', count: 1 }, { ...headers, 'x-test-user': 'user-b' });
  t.is(otherUser.status, 201);
  t.is(handled, before + 1, 'keys are per user');
});

test('Idempotency-Key: concurrent requests with one key execute once', async (t) => {
  const headers = { 'x-test-user': 'user-c', 'idempotency-key': 'slow-1' };
  const answers = await Promise.all(Array.from({ length: 5 }, () => post('/api/v1/slow', {}, headers)));
  t.is(slowHandled, 1);
  const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ n: number }>));
  t.true(answers.every((r) => r.status === 201));
  t.true(bodies.every((b) => b.n === bodies[0]!.n));
});

test('rate limit: 429 problem with Retry-After and X-RateLimit headers (memory)', async (t) => {
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${app.url}/api/v1/limited`);
    statuses.push(r.status);
    if (r.status === 429) limited = r;
    else await r.arrayBuffer();
  }
  t.deepEqual(statuses, [200, 200, 200, 429, 429]);
  await expectProblem(t, limited!, 429, 'rate_limited');
  t.truthy(Number(limited!.headers.get('retry-after')) >= 1);
  t.is(limited!.headers.get('x-ratelimit-limit'), '3');
  t.is(limited!.headers.get('x-ratelimit-remaining'), '0');
});

const redisUrl = testRedisUrl();
if (!redisUrl) console.log(`[skip] Redis rate-limit test: ${redisSkipReason()}`);
// Skipped, with the reason printed above, only where no Redis answers (never in CI: .ci/run requires it).
(redisUrl ? test : test.skip)('rate limit in Redis, shared by two app instances; a dead Redis lets requests through', async (t) => {
  const url = redisUrl!;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await new Promise((resolve) => redis.once('ready', resolve));
  const name = `test-${Date.now()}`;
  const build = (client: Redis, failures: unknown[]) => {
    const router = new Router();
    router.get('/x', (ctx) => { ctx.body = { ok: true }; });
    return createHttpApp({
      logger, bodyLimitBytes: 1024, trustProxy: false, openapi: new OpenApiRegistry(), readinessChecks: [], routers: [router],
      middleware: [rateLimit({ kind: 'redis', redis: client, onFailure: (e) => failures.push(e) }, { name, max: 2, durationMs: 60_000, key: () => 'shared' })],
    });
  };
  const failures: unknown[] = [];
  const a = await listen(build(redis, failures));
  const b = await listen(build(redis, failures));
  try {
    const statuses = [];
    for (const target of [a, b, a, b]) statuses.push((await fetch(`${target.url}/x`)).status);
    t.deepEqual(statuses, [200, 200, 429, 429]);
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    const deadFailures: unknown[] = [];
    const c = await listen(build(dead, deadFailures));
    try {
      t.is((await fetch(`${c.url}/x`)).status, 200);
      t.true(deadFailures.length > 0);
    } finally {
      await c.close();
      dead.disconnect();
    }
  } finally {
    await a.close();
    await b.close();
    redis.disconnect();
  }
});

test('health: live always, ready with per-check detail, 503 problem when a check fails', async (t) => {
  t.deepEqual(await (await fetch(`${app.url}/health/live`)).json(), { status: 'ok' });
  const ready = await fetch(`${app.url}/health/ready`);
  t.is(ready.status, 200);
  t.like(await ready.json(), { status: 'ok', checks: { database: { status: 'ok' }, flaky: { status: 'ok', lag: 0 } } });
  failingCheck = true;
  try {
    const body = await expectProblem(t, await fetch(`${app.url}/health/ready`), 503, 'not_ready');
    t.like(body, { checks: { flaky: { status: 'failed', error: 'flaky is down' }, database: { status: 'ok' } } });
  } finally {
    failingCheck = false;
  }
});

test('OpenAPI 3.1 document lists registered operations; /docs is a page', async (t) => {
  const doc = (await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
  t.is(doc.openapi, '3.1.0');
  t.truthy(doc.paths['/api/v1/items']?.post);
  t.truthy(doc.components.schemas.Problem);
  const docs = await fetch(`${app.url}/docs`);
  t.regex(docs.headers.get('content-type') ?? '', /text\/html/);
  t.regex(await docs.text(), /Create an item/);
});

test('logs redact credentials and carry the request id', async (t) => {
  const child = logger.child({ requestId: 'redact-1' });
  child.info({ headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1' }, body: { password: 'hunter2hunter2', refreshToken: 'rt-123' } }, 'probe');
  const line = logLines.find((l) => l.includes('redact-1'))!;
  t.truthy(line);
  t.notRegex(line, /abc\.def\.ghi|hunter2|rt-123|sid=1/);
  t.regex(line, /\[redacted\]/);
  await fetch(`${app.url}/health/live`, { headers: { authorization: 'Bearer zzz.yyy.xxx', 'x-request-id': 'access-1' } });
  const access = logLines.find((l) => l.includes('access-1') && l.includes('request completed'));
  t.truthy(access);
  t.notRegex(access!, /zzz\.yyy\.xxx/);
});
