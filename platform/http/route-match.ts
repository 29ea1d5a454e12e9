// Which route a request is for, through @koa/router's public API only.
//
// - routePattern: the pattern of the route that answered (`/api/v1/samples/:id`), for telemetry
//   and the access log; the router sets ctx.routerPath as it runs a route.
// - matchedRoute: the route a request is going to reach, known before the router runs it, for
//   middleware that must act on the route rather than on the raw path (Idempotency-Key scopes),
//   where `/api/v1/SAMPLES`, `/api/v1/samples/` and `/api/v1/samples` are one route, as the router
//   matches them (case-insensitive, trailing slash optional).
import type Router from '@koa/router';

export interface MatchedRoute {
  /** e.g. 'POST' */
  readonly method: string;
  /** The route's pattern as registered, prefix included, e.g. '/api/v1/samples/:id/move'. */
  readonly pattern: string;
  /** The route's parameters, decoded, as the route will see them. */
  readonly params: Readonly<Record<string, string>>;
  /** The route's own middleware and handler (where route-level markers are looked up). */
  readonly handlers: readonly unknown[];
}

// Routers of any state type: the platform only mounts them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRouter = Router<any, any>;
const routers = new WeakMap<object, AnyRouter>();

/** Called by createHttpApp with the router that serves the app's routes. */
export function registerRouter(app: object, router: AnyRouter): void {
  routers.set(app, router);
}

/** The route the router will run for this method and path; undefined for a 404 or 405. */
export function matchedRoute(ctx: {
  readonly app: object;
  readonly method: string;
  readonly path: string;
}): MatchedRoute | undefined {
  const match = routers.get(ctx.app)?.match(ctx.path, ctx.method);
  if (!match?.route) return undefined;
  // The first matching route (router-level middleware has no methods): route handlers end the
  // chain, so a later match (`/samples/:id` after `/samples/stats`) never runs.
  const layer = match.pathAndMethod.find((l) => l.methods.length > 0);
  if (!layer || typeof layer.path !== 'string') return undefined;
  return {
    method: ctx.method,
    pattern: layer.path,
    params: layer.params(ctx.path, layer.captures(ctx.path)),
    handlers: layer.stack,
  };
}

/** The pattern of the route that answered the request; undefined when none did (404, 405). */
export function routePattern(ctx: object): string | undefined {
  const path = (ctx as { routerPath?: unknown }).routerPath;
  return typeof path === 'string' ? path : undefined;
}
