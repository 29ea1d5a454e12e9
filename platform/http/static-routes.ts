// A shortcut through @koa/router for routes without parameters (GET /api/v1/auth/me, …): found by
// exact path and method in a map, their handlers composed once at start-up. The router's own
// dispatch tests every route's pattern, copies the matches, and builds and composes a new
// middleware chain on every request: a tenth of an authenticated read's cost (bench:auth).
// Only what the router would do anyway takes the shortcut: a route is left to the router when any
// other route of it matches the same path and method, and a router with router-level middleware
// (router.use) or parameter handlers is left to the router entirely. Other spellings of a path
// (case, trailing slash) go through the router too.
import type Router from '@koa/router';
import compose from 'koa-compose';
import type { Context, Next } from 'koa';

type Handler = (ctx: Context, next: Next) => Promise<unknown>;

/** Static route → its composed handlers, by path, then method. */
export type StaticRoutes = ReadonlyMap<string, ReadonlyMap<string, Handler>>;

/** What @koa/router sets on the context when it dispatches a route (read by telemetry, logs and routes). */
interface RoutedContext {
  router: unknown;
  routeMatched: boolean;
  matched: unknown[];
  _matchedRoute: string;
  _matchedRouteName?: string;
  captures: string[];
  params: Record<string, string>;
  routerPath: string;
  routerName: string | undefined;
}

// Routers of any state type: the platform only mounts them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function staticRoutes(router: Router<any, any>): StaticRoutes {
  const routes = new Map<string, Map<string, Handler>>();
  const layers = router.stack;
  // Router-level middleware and parameter handlers run around routes: leave those routers alone.
  if (layers.some((layer) => layer.methods.length === 0) || Object.keys(router.params).length > 0) return routes;
  for (const layer of layers) {
    const path = layer.path;
    if (typeof path !== 'string' || layer.paramNames.length > 0) continue;
    for (const method of layer.methods) {
      // Exactly the layers the router would run for this path and method: only this one.
      const alike = layers.filter((other) => other.methods.includes(method) && other.match(path));
      if (alike.length !== 1) continue;
      const handlers = compose(layer.stack as Parameters<typeof compose<Context>>[0]);
      const enter: Handler = (ctx, next) => {
        const routed = ctx as unknown as RoutedContext;
        routed.router = router;
        routed.routeMatched = true;
        routed.matched = [layer];
        routed._matchedRoute = path;
        if (layer.name) routed._matchedRouteName = layer.name;
        routed.captures = [];
        routed.params = {};
        (ctx.request as unknown as { params: Record<string, string> }).params = routed.params;
        routed.routerPath = path;
        routed.routerName = layer.name ?? undefined;
        return handlers(ctx, next);
      };
      const byMethod = routes.get(path) ?? new Map<string, Handler>();
      byMethod.set(method, enter);
      routes.set(path, byMethod);
    }
  }
  return routes;
}
