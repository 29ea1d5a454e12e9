// Routing on the HTTP platform: every module's router is mounted into one router; a domain error
// becomes problem+json wherever it is thrown; what answered is known by its route pattern (access log,
// telemetry) and, before the router runs, to middleware such as idempotency (matchedRoute).
import test from 'ava';
import type { Middleware } from 'koa';
import { DomainError } from '../../platform/commands/decision.ts';
import { matchedRoute } from '../../platform/http/route-match.ts';
import { createRouter } from '../../platform/http/state.ts';
import { expectProblem, startTestApp, type TestApp } from './platform-fixture.ts';

const refusing = createRouter({ prefix: '/api/v1/a' });
refusing.get('/:id', () => {
  throw new DomainError({ code: 'a_conflict', message: 'A conflict.', status: 409 });
});
const plain = createRouter();
plain.get('/api/v1/b', () => {
  throw new Error('from b');
});
plain.get('/api/v1/c/stats', (ctx) => {
  ctx.body = { answered: 'stats' };
});
plain.get('/api/v1/c/:id', (ctx) => {
  ctx.body = { answered: 'id' };
});

/** What matchedRoute says before the router runs, by request id. */
const seenBefore = new Map<string, string | undefined>();
const recordMatch: Middleware = async (ctx, next) => {
  seenBefore.set(ctx.get('x-request-id'), matchedRoute(ctx)?.pattern);
  await next();
};

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ routers: [refusing, plain], middleware: [recordMatch] });
});
test.after.always(() => app.close());

const get = (path: string, requestId: string) => fetch(`${app.url}${path}`, { headers: { 'x-request-id': requestId } });
const accessLine = (requestId: string) =>
  app.logs.parsed().find((line) => line.requestId === requestId && line.msg === 'request completed');

test('a domain error thrown by a route is its problem+json answer', async (t) => {
  await expectProblem(t, await get('/api/v1/a/1', 'translated'), 409, 'a_conflict');
});

test('any other error is a 500 internal_error', async (t) => {
  await expectProblem(t, await get('/api/v1/b', 'untranslated'), 500, 'internal_error');
});

test('the access log names the route pattern that answered, whatever the spelling of the path', async (t) => {
  const response = await get('/API/v1/A/42/', 'spelling');
  await response.arrayBuffer();
  t.like(accessLine('spelling'), { route: '/api/v1/a/:id', path: '/API/v1/A/42/', status: 409 });
});

test('a request no route answers is logged without a route', async (t) => {
  const response = await get('/api/v1/nowhere', 'unrouted');
  await response.arrayBuffer();
  t.like(accessLine('unrouted'), { route: null, status: 404 });
});

test('when two routes match, the first declared answers, and both the log and matchedRoute name it', async (t) => {
  const response = await get('/api/v1/c/stats', 'first-match');
  t.deepEqual(await response.json(), { answered: 'stats' });
  t.like(accessLine('first-match'), { route: '/api/v1/c/stats' });
  t.is(seenBefore.get('first-match'), '/api/v1/c/stats');
});

test('matchedRoute knows no route for a wrong method (405)', async (t) => {
  const response = await fetch(`${app.url}/api/v1/c/stats`, { method: 'DELETE', headers: { 'x-request-id': 'wrong' } });
  t.is(response.status, 405);
  await response.arrayBuffer();
  t.true(seenBefore.has('wrong'));
  t.is(seenBefore.get('wrong'), undefined);
});
