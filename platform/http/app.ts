// The Koa application, as a list of middleware read top to bottom, each doing one job.
// The composition root (app/) plugs in authentication, cross-cutting middleware (rate limits,
// idempotency) and the modules' routers; the platform knows none of them.
import Koa, { type Middleware } from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { accessLogMiddleware } from './access-log.ts';
import { jsonBodyMiddleware } from './body.ts';
import { healthRouter, type ReadinessCheck } from './health.ts';
import { openApiRouter, type OpenApiRegistry } from './openapi.ts';
import { problemMiddleware } from './problem.ts';
import { requestIdMiddleware } from './request-id.ts';
import { registerRouter } from './route-match.ts';
import { securityHeaders } from './security-headers.ts';
import { telemetryMiddleware } from './telemetry.ts';

export interface HttpAppOptions {
  readonly logger: Logger;
  /** BODY_LIMIT_BYTES: larger JSON bodies are refused with 413. */
  readonly bodyLimitBytes: number;
  /** POST paths whose route reads its own body (not JSON, its own limit), e.g. a file upload. */
  readonly ownBodyPaths?: readonly string[];
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

export function createHttpApp(options: HttpAppOptions): Koa {
  const proxy = options.trustProxy;
  const hops = proxy === true ? 1 : proxy === false ? 0 : Math.max(0, Math.floor(proxy));
  // maxIpsCount keeps only the rightmost `hops` entries; ctx.ip is the first of those.
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  app.silent = true; // request errors are answered and logged by problemMiddleware, never printed by Koa
  // What still reaches Koa (e.g. a streamed body failing after the headers went out) is logged here.
  app.on('error', (error: unknown) => options.logger.warn({ err: error }, 'response failed after it started'));

  const health = healthRouter(options.readinessChecks);
  const docs = openApiRouter(options.openapi, options.info ?? { title: 'Vialog', version: '1.0.0' });
  const routes = new Router();
  for (const router of options.routers) routes.use(router.routes());
  registerRouter(app, routes); // for middleware that needs the route before it runs (idempotency)

  app.use(requestIdMiddleware(options.logger)); // X-Request-Id, traceparent, ctx.state with the child logger
  app.use(securityHeaders()); // helmet's API profile, no-store
  app.use(telemetryMiddleware()); // the request's span (continues a traceparent) and its duration
  app.use(accessLogMiddleware(options.logger)); // one line per request, with the final status
  app.use(problemMiddleware()); // every error below becomes problem+json
  app.use(jsonBodyMiddleware(options.bodyLimitBytes, new Set(options.ownBodyPaths))); // JSON only, size limit
  app.use(health.routes()); // public, before authentication
  app.use(docs.routes()); // public: the OpenAPI document and /docs
  if (options.authenticate) app.use(options.authenticate); // ctx.state.auth
  for (const middleware of options.middleware ?? []) app.use(middleware); // rate limits, idempotency, ...
  app.use(routes.routes()); // every module's routes
  app.use(routes.allowedMethods()); // 405 with Allow, answers to OPTIONS
  return app;
}
