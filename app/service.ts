// The running service: the HTTP API and/or the projection workers in this process, with
// readiness checks and graceful shutdown wired in.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../platform/config.ts';
import { createHttpApp } from '../platform/http/app.ts';
import { OpenApiRegistry } from '../platform/http/openapi.ts';
import { idempotencyMiddleware, purgeExpiredIdempotencyKeys } from '../platform/http/idempotency.ts';
import { memoryBackend, rateLimit, rateLimiterFactory, redisBackend, redisReadinessCheck, type RateLimitBackend } from '../platform/http/rate-limit.ts';
import { failureLimit } from '../platform/http/failure-limit.ts';
import type { PasswordHasher } from '../modules/identity/passwords.ts';
import type { ReadinessCheck } from '../platform/http/health.ts';
import type { AppState } from '../platform/http/state.ts';
import { Shutdown, closeHttpServer } from '../platform/shutdown.ts';
import { ProjectionEngine } from '../projections/engine/index.ts';
import { meter } from '../platform/telemetry.ts';
import { PersonalDataVault } from '../platform/crypto/personal-data.ts';
import { projectionAdminRouter } from '../projections/admin-routes.ts';
import { AuditDigester } from '../platform/audit/digester.ts';
import { openInfrastructure, type Infrastructure } from './infrastructure.ts';
import { allProjections, composeModules } from './modules.ts';

export interface ServiceRoles {
  readonly api: boolean;
  readonly projector: boolean;
}

export interface ServiceOptions {
  /** Install SIGTERM/SIGINT handlers (the CLI does; tests running several services do not). */
  readonly handleSignals?: boolean;
  /** Tests only: a cheaper argon2 than production's. */
  readonly passwordHasher?: PasswordHasher;
}

export interface RunningService {
  readonly infrastructure: Infrastructure;
  readonly engine: ProjectionEngine;
  readonly server: Server | undefined;
  readonly url: string | undefined;
  stop(): Promise<void>;
}

export async function startService(config: Config, logger: Logger, roles: ServiceRoles, options: ServiceOptions = {}): Promise<RunningService> {
  const shutdown = new Shutdown(logger, config.SHUTDOWN_TIMEOUT_MS);
  const infrastructure = await openInfrastructure(config, logger);
  shutdown.register('infrastructure', () => infrastructure.close());
  const { knex, store } = infrastructure;
  const vault = new PersonalDataVault(knex, config.personalDataKey);

  const engine = new ProjectionEngine({
    projections: allProjections(vault),
    store,
    knex,
    databaseUrl: infrastructure.databaseUrl,
    batchSize: config.PROJECTION_BATCH_SIZE,
    pollIntervalMs: config.PROJECTION_POLL_INTERVAL_MS,
    logger,
  });
  // Where each read model stands, sampled at every scrape.
  const lagEvents = meter().createObservableGauge('vialog.projection.lag.events', { description: 'Events in the log after the projection checkpoint' });
  const lagSeconds = meter().createObservableGauge('vialog.projection.lag.seconds', { description: 'Age of the oldest event the projection has not applied', unit: 's' });
  const applied = meter().createObservableGauge('vialog.projection.events_applied', { description: 'Events applied since the last rebuild' });
  meter().addBatchObservableCallback(
    async (result) => {
      for (const s of await engine.status().catch(() => [])) {
        result.observe(lagEvents, s.lagEvents, { projection: s.name });
        result.observe(lagSeconds, s.lagSeconds, { projection: s.name });
        result.observe(applied, s.eventsApplied, { projection: s.name });
      }
    },
    [lagEvents, lagSeconds, applied],
  );
  const auditDigester = new AuditDigester({
    store,
    knex,
    keys: config.auditKeys,
    logger,
    databaseUrl: infrastructure.databaseUrl,
    everyEvents: config.AUDIT_DIGEST_EVERY_EVENTS,
    intervalSeconds: config.AUDIT_DIGEST_INTERVAL_SECONDS,
  });
  shutdown.register('audit digests', () => auditDigester.stop());
  if (roles.projector) {
    engine.start();
    shutdown.register('projections', () => engine.stop());
    // Background work runs where the projections do: one scheduled signer across processes (a lock).
    auditDigester.start();
  }

  let server: Server | undefined;
  let url: string | undefined;
  if (roles.api) {
    // Queries must never meet a read model whose tables are not there yet (first start).
    if (!(await engine.tablesReady(roles.projector ? 60_000 : 10_000))) {
      logger.warn('some read-model tables do not exist yet (is a projector running?): their queries fail until it creates them');
    }
    const openapi = new OpenApiRegistry();
    const backend: RateLimitBackend = infrastructure.redis
      ? redisBackend(infrastructure.redis, (error) => logger.warn({ err: error }, 'Redis rate limiter failed: counting in memory'))
      : memoryBackend();
    const modules = composeModules({
      config,
      databaseUrl: infrastructure.databaseUrl,
      vault,
      knex,
      store,
      openapi,
      logger,
      auditDigester,
      rateLimit: rateLimiterFactory(backend),
      failureLimit: (options) => failureLimit(backend, options),
      waitForProjections: (names, position) => engine.waitForProjections(names, position, { timeoutMs: config.READ_YOUR_WRITES_TIMEOUT_MS }),
      ...(options.passwordHasher ? { passwordHasher: options.passwordHasher } : {}),
    });
    await modules.start();
    shutdown.register('modules', () => modules.stop());
    const readinessChecks: ReadinessCheck[] = [
      { name: 'postgres', check: async () => void (await knex.raw('SELECT 1')) },
      { name: 'eventStore', check: async () => { await store.ping(); return { kind: store.kind }; } },
      {
        name: 'projections',
        check: async () => {
          const statuses = await engine.status();
          const lagging = statuses.filter((s) => s.lagSeconds > config.READY_MAX_PROJECTION_LAG_SECONDS);
          if (lagging.length > 0) throw new Error(`lagging: ${lagging.map((s) => `${s.name} ${s.lagSeconds}s`).join(', ')}`);
          return { count: statuses.length };
        },
      },
    ];
    if (infrastructure.redis) readinessChecks.push(redisReadinessCheck(infrastructure.redis));
    const app = createHttpApp({
      logger,
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      trustProxy: config.TRUST_PROXY,
      openapi,
      readinessChecks,
      authenticate: modules.authenticate,
      middleware: [
        rateLimit(backend, {
          name: 'user',
          max: config.RATE_LIMIT_PER_USER_PER_MINUTE,
          durationMs: 60_000,
          key: (ctx) => (ctx.state as AppState).auth?.userId ?? false,
        }),
        idempotencyMiddleware(knex, config.IDEMPOTENCY_TTL_HOURS),
      ],
      routers: [...modules.routers, projectionAdminRouter(engine, openapi)],
    });
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.PORT, config.HOST, () => resolve(s));
      s.once('error', reject);
    });
    server.keepAliveTimeout = 65_000; // longer than common load balancer idle timeouts
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
    const purge = setInterval(() => void purgeExpiredIdempotencyKeys(knex).catch(() => undefined), 15 * 60_000);
    purge.unref();
    const listening = server;
    shutdown.register('http', async () => {
      clearInterval(purge);
      await closeHttpServer(listening, Math.min(5_000, config.SHUTDOWN_TIMEOUT_MS / 2));
    });
  }
  if (options.handleSignals ?? true) shutdown.onSignals();
  return { infrastructure, engine, server, url, stop: () => shutdown.run() };
}
