// RouteGroup's access levels: an `admin` route is 401 without credentials, 403 `forbidden` for
// any other caller, answers an admin, and documents its 403 in the OpenAPI document.
import test from 'ava';
import type { Middleware } from 'koa';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import { stateOf } from '../../platform/http/state.ts';
import { expectProblem, startTestApp, type TestApp } from './platform-fixture.ts';

/** Sets the caller from x-test-user and x-test-role. */
const authenticate: Middleware = async (ctx, next) => {
  const user = ctx.get('x-test-user');
  const role = ctx.get('x-test-role') === 'admin' ? 'admin' : 'user';
  if (user) stateOf(ctx).auth = { userId: user, username: user, role, actorType: 'user' };
  await next();
};

let app: TestApp;
const openapi = new OpenApiRegistry();

test.before(async () => {
  const routes = new RouteGroup(openapi, { tag: 'operations', description: 'Test operations' });
  routes.add({
    method: 'get',
    path: '/api/v1/operations',
    summary: 'An admin-only route',
    access: 'admin',
    responses: { 200: 'The operations' },
    handler: (ctx, { auth }) => {
      ctx.body = { admin: auth.userId };
    },
  });
  app = await startTestApp({ openapi, authenticate, routers: [routes.router] });
});

test.after.always(async () => {
  await app?.close();
});

const get = (headers: Record<string, string>) => fetch(`${app.url}/api/v1/operations`, { headers });

test('an admin route without credentials: 401 unauthenticated', async (t) => {
  await expectProblem(t, await get({}), 401, 'unauthenticated');
});

test('an admin route called by a user: 403 forbidden', async (t) => {
  await expectProblem(t, await get({ 'x-test-user': 'u1' }), 403, 'forbidden');
});

test('an admin route called by an admin: answered, with the caller', async (t) => {
  const response = await get({ 'x-test-user': 'a1', 'x-test-role': 'admin' });
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { admin: 'a1' });
});

test('an admin route documents its 403', (t) => {
  const doc = openapi.document({ title: 'test', version: '0' });
  t.truthy(doc.paths?.['/api/v1/operations']?.get?.responses?.['403']);
});
