// The Koa application, as a list of middleware read top to bottom, each doing one job.
// Modules plug in their routers; the platform knows none of them.
import Koa, { type Middleware } from 'koa';
import type Router from '@koa/router';
import helmet from 'koa-helmet';
import type { Logger } from 'pino';
import { accessLogMiddleware } from './access-log.ts';
import { jsonBodyMiddleware } from './body.ts';
import { healthRouter, type ReadinessCheck } from './health.ts';
import { openApiRouter, type OpenApiRegistry } from './openapi.ts';
import { problemMiddleware } from './problem.ts';
import { requestIdMiddleware } from './request-id.ts';

export interface HttpAppOptions {
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly trustProxy: boolean;
  readonly openapi: OpenApiRegistry;
  readonly readinessChecks: readonly ReadinessCheck[];
  /** Sets ctx.state.auth from the request's credentials (provided by the identity module). */
  readonly authenticate?: Middleware;
  /** Cross-cutting middleware after authentication, e.g. rate limits and idempotency. */
  readonly middleware?: readonly Middleware[];
  readonly routers: readonly Router[];
  readonly info?: { title: string; version: string };
}

export function createHttpApp(options: HttpAppOptions): Koa {
  const app = new Koa({ proxy: options.trustProxy });
  app.silent = true; // errors are answered and logged by problemMiddleware, never printed by Koa
  app.use(requestIdMiddleware(options.logger));
  app.use(accessLogMiddleware());
  app.use(problemMiddleware());
  app.use(helmet());
  for (const m of jsonBodyMiddleware(options.bodyLimitBytes)) app.use(m);
  const platformRoutes = [healthRouter(options.readinessChecks), openApiRouter(options.openapi, options.info ?? { title: 'Vialog', version: '1.0.0' })];
  for (const router of platformRoutes) app.use(router.routes());
  if (options.authenticate) app.use(options.authenticate);
  for (const m of options.middleware ?? []) app.use(m);
  for (const router of options.routers) {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true }));
  }
  return app;
}
