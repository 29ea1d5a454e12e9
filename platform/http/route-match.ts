// The route a request is going to reach, known before the router runs it: for middleware that
// must act on the route rather than on the raw path (Idempotency-Key scopes), where
// `/api/v1/SAMPLES`, `/api/v1/samples/` and `/api/v1/samples` are one route, as the router
// matches them (case-insensitive, trailing slash optional). Looked up only when asked, so a
// request whose middleware never asks pays nothing.
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
const registries = new WeakMap<object, readonly AnyRouter[]>();

/** Called by createHttpApp with the routers it mounts, in mounting order. */
export function registerRoutes(app: object, routers: readonly AnyRouter[]): void {
  registries.set(app, routers);
}

/** The route the first router that has one for this method and path will run; undefined for a 404 or 405. */
export function matchedRoute(ctx: {
  readonly app: object;
  readonly method: string;
  readonly path: string;
}): MatchedRoute | undefined {
  for (const router of registries.get(ctx.app) ?? []) {
    const match = router.match(ctx.path, ctx.method);
    if (!match.route) continue;
    // The route that answers: the first matching layer that is a route (not router-level middleware);
    // route handlers end the chain, so a later match (`/samples/:id` after `/samples/stats`) never runs.
    const layer = match.pathAndMethod.find((l) => l.methods.length > 0);
    if (!layer || typeof layer.path !== 'string') continue;
    return {
      method: ctx.method,
      pattern: layer.path,
      params: layer.params(ctx.path, layer.captures(ctx.path)),
      handlers: layer.stack,
    };
  }
  return undefined;
}
