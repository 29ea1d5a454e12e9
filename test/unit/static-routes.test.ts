import test from 'ava';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { staticRoutes } from '../../platform/http/static-routes.ts';

const paths = (router: Router) =>
  [...staticRoutes(router)].map(([path, byMethod]) => `${[...byMethod.keys()].sort().join(',')} ${path}`).sort();

test('routes without parameters are found by exact path and method; others are left to the router', (t) => {
  const router = new Router({ prefix: '/api/v1/auth' });
  router.get('/me', () => undefined);
  router.delete('/me', () => undefined);
  router.get('/keys/:id', () => undefined);
  router.post('/login', () => undefined);
  t.deepEqual(paths(router), ['DELETE,GET,HEAD /api/v1/auth/me', 'POST /api/v1/auth/login']);
});

test('a route another route also matches (same path and method) is left to the router', (t) => {
  const router = new Router();
  router.get('/:id', () => undefined); // registered first: the router runs it for /me too
  router.get('/me', () => undefined);
  router.post('/me', () => undefined);
  t.deepEqual(paths(router), ['POST /me']);
});

test('routers with router-level middleware or parameter handlers are left alone', (t) => {
  const withUse = new Router();
  withUse.use(async (_ctx, next) => next());
  withUse.get('/me', () => undefined);
  t.deepEqual(paths(withUse), []);
  const withParam = new Router();
  withParam.param('id', async (_id, _ctx, next) => next());
  withParam.get('/me', () => undefined);
  t.deepEqual(paths(withParam), []);
});

test('the shortcut leaves the context as the router does', async (t) => {
  const seen: Record<string, unknown>[] = [];
  const router = new Router({ prefix: '/api' });
  router.get('/me', (ctx) => {
    const c = ctx as unknown as Record<string, unknown>;
    seen.push({
      matchedRoute: c._matchedRoute,
      params: ctx.params,
      requestParams: (ctx.request as unknown as { params: unknown }).params,
      routerPath: c.routerPath,
      captures: c.captures,
      matched: (c.matched as unknown[]).length,
      routeMatched: c.routeMatched,
    });
    ctx.body = 'ok';
  });
  const app = new Koa();
  const ctx = (url: string) =>
    app.createContext(
      { url, method: 'GET', headers: {}, socket: {} } as never,
      { setHeader() {}, getHeader() {}, removeHeader() {} } as never,
    ) as Context;
  await (router.routes() as unknown as (ctx: Context, next: () => Promise<void>) => Promise<void>)(ctx('/api/me'), () =>
    Promise.resolve(),
  );
  await staticRoutes(router).get('/api/me')!.get('GET')!(ctx('/api/me'), () => Promise.resolve());
  t.is(seen.length, 2);
  t.deepEqual(seen[1], seen[0]);
});
