// The Koa application, as a list of middleware read top to bottom, each doing one job.
// The composition root (app/) plugs in authentication, cross-cutting middleware (rate limits,
// idempotency) and the modules' routers; the platform knows none of them.
import Koa, { type Context, type Middleware, type Next } from 'koa';
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { accessLogMiddleware } from './access-log.ts';
import { jsonBodyMiddleware } from './body.ts';
import { healthRouter, type ReadinessCheck } from './health.ts';
import { openApiRouter, type OpenApiRegistry } from './openapi.ts';
import { problemMiddleware } from './problem.ts';
import { assignRequestId } from './request-id.ts';
import { applySecurityHeaders } from './security-headers.ts';
import { errorTranslationOf } from './state.ts';
import { registerRoutes } from './route-match.ts';
import { staticRoutes } from './static-routes.ts';
import { telemetryMiddleware } from './telemetry.ts';

export interface HttpAppOptions {
  readonly logger: Logger;
  /** BODY_LIMIT_BYTES: larger JSON bodies are refused with 413. */
  readonly bodyLimitBytes: number;
  /**
   * Proxies of ours in front of the API (TRUST_PROXY_HOPS; true means 1): the client address
   * (ctx.ip, per-IP limits) is the X-Forwarded-For entry this many from the right, the one our
   * outermost proxy appended. Entries left of it are written by the client and never read.
   */
  readonly trustProxy: boolean | number;
  readonly openapi: OpenApiRegistry;
  /** Checks behind GET /health/ready (event store, Postgres, Redis, projection lag, ...). */
  readonly readinessChecks: readonly ReadinessCheck[];
  /** Sets ctx.state.auth from the request's credentials (provided by the identity module). */
  readonly authenticate?: Middleware;
  /** Cross-cutting middleware after authentication, in order, e.g. rate limits and idempotency. */
  readonly middleware?: readonly Middleware[];
  // Routers of any state type: the platform only mounts them.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly routers: readonly Router<any, any>[];
  readonly info?: { title: string; version: string };
}

/** A middleware whose promise is typed (Koa's Middleware returns any). */
type Step = (ctx: Context, next: Next) => Promise<unknown>;

const HEALTH_PATHS = /^\/health\//i;
const DOCS_PATHS = /^\/(?:docs|docs\/assets\/[^/]+|api\/v1\/openapi\.json)\/?$/i;

export function createHttpApp(options: HttpAppOptions): Koa {
  const proxy = options.trustProxy;
  const hops = proxy === true ? 1 : proxy === false ? 0 : Math.max(0, Math.floor(proxy));
  // maxIpsCount keeps only the rightmost `hops` entries; ctx.ip is the first of those.
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  app.silent = true; // request errors are answered and logged by problemMiddleware, never printed by Koa
  // What still reaches Koa (e.g. a streamed body failing after the headers went out) is logged here.
  app.on('error', (error: unknown) => options.logger.warn({ err: error }, 'response failed after it started'));

  // Steps with nothing to do after the answer share one middleware (each layer costs every request).
  const assignId = assignRequestId(options.logger);
  app.use((ctx, next) => {
    assignId(ctx); // X-Request-Id, traceparent, ctx.state with the child logger
    applySecurityHeaders(ctx); // helmet's security headers (API profile), worked out once
    return next();
  });
  app.use(telemetryMiddleware()); // the request's span (continues a traceparent) and its duration
  // One line per request, with the final status; not installed at all below the info level.
  if (options.logger.isLevelEnabled('info')) app.use(accessLogMiddleware(options.logger));
  app.use(problemMiddleware()); // every error below becomes problem+json
  app.use(jsonBodyMiddleware(options.bodyLimitBytes)); // JSON only, size limit

  // Public: health, docs. Only their own paths reach them.
  const health = healthRouter(options.readinessChecks).routes() as Step;
  const docs = openApiRouter(options.openapi, options.info ?? { title: 'Vialog', version: '1.0.0' }).routes() as Step;
  app.use((ctx, next) => {
    const path = ctx.path;
    if (HEALTH_PATHS.test(path)) return health(ctx, next);
    if (DOCS_PATHS.test(path)) return docs(ctx, next);
    return next();
  });

  if (options.authenticate) app.use(options.authenticate); // ctx.state.auth
  for (const m of options.middleware ?? []) app.use(m); // rate limits, idempotency, ...
  for (const router of options.routers) app.use(mountRouter(router));
  registerRoutes(app, options.routers); // for middleware that needs the route before it runs (idempotency)
  return app;
}

/**
 * A router's routes, then its 405s with Allow (made problems by problemMiddleware), with the
 * router's error translation around both (modules' domain errors become problems). Routes without
 * parameters are found by exact path first (static-routes.ts). A router with a
 * prefix is entered only by paths under it: every router otherwise works out the request's host
 * and tests its routes against every request, whichever module the request is for.
 */
// Routers of any state type: the platform only mounts them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function mountRouter(router: Router<any, any>): Middleware {
  const routes = router.routes() as Step;
  const allowedMethods = router.allowedMethods() as Step;
  const translate = errorTranslationOf(router) ?? ((error: unknown) => error);
  const shortcuts = staticRoutes(router);
  const both = async (ctx: Context, next: Next): Promise<void> => {
    try {
      const route = shortcuts.get(ctx.path)?.get(ctx.method) ?? routes;
      await route(ctx, () => allowedMethods(ctx, next));
    } catch (error) {
      throw translate(error);
    }
  };
  const prefix = router.opts.prefix;
  if (!prefix || /[:(*]/.test(prefix)) return both; // no prefix, or one with parameters: always entered
  // Case-insensitive, as the router matches.
  return onlyFor(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/|$)`, 'i'), both);
}

/** The middleware for paths matching the pattern; any other request passes straight on. */
function onlyFor(paths: RegExp, middleware: Step): Middleware {
  return (ctx, next) => (paths.test(ctx.path) ? middleware(ctx, next) : next());
}
