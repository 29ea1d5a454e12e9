// The running service: the HTTP API and/or the projection workers in this process, with
// readiness checks and graceful shutdown wired in.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../platform/config.ts';
import { createHttpApp } from '../platform/http/app.ts';
import { OpenApiRegistry } from '../platform/http/openapi.ts';
import { idempotencyMiddleware, purgeExpiredIdempotencyKeys } from '../platform/http/idempotency.ts';
import {
  memoryBackend,
  rateLimit,
  rateLimiterFactory,
  redisBackend,
  redisReadinessCheck,
  type RateLimitBackend,
} from '../platform/http/rate-limit.ts';
import { failureLimit } from '../platform/http/failure-limit.ts';
import { sessionOnlyPaths } from '../platform/http/require-auth.ts';
import type { PasswordHasher } from '../modules/identity/passwords.ts';
import { Degraded, type ReadinessCheck } from '../platform/http/health.ts';
import { noteStaleRead, readYourWritesMiddleware } from '../platform/http/read-your-writes.ts';
import type { AppState } from '../platform/http/state.ts';
import { Shutdown, closeHttpServer } from '../platform/shutdown.ts';
import { ProjectionEngine } from '../projections/engine/index.ts';
import type { EventStore } from '../platform/eventstore/port.ts';
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

export async function startService(
  config: Config,
  logger: Logger,
  roles: ServiceRoles,
  options: ServiceOptions = {},
): Promise<RunningService> {
  const shutdown = new Shutdown(logger, config.SHUTDOWN_TIMEOUT_MS);
  const infrastructure = await openInfrastructure(config, logger);
  shutdown.register('infrastructure', () => infrastructure.close());
  const { knex, store } = infrastructure;
  const vault = new PersonalDataVault(knex, config.personalDataKey);

  const engine = new ProjectionEngine({
    projections: allProjections(vault, store),
    store,
    knex,
    databaseUrl: infrastructure.databaseUrl,
    batchSize: config.PROJECTION_BATCH_SIZE,
    pollIntervalMs: config.PROJECTION_POLL_INTERVAL_MS,
    maxAttempts: config.PROJECTION_MAX_ATTEMPTS,
    logger,
  });
  registerProjectionMetrics(engine, store);
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
      logger.warn(
        'some read-model tables do not exist yet (is a projector running?): their queries fail until it creates them',
      );
    }
    const openapi = new OpenApiRegistry();
    const backend: RateLimitBackend = infrastructure.redis
      ? redisBackend(infrastructure.redis, (error) =>
          logger.warn({ err: error }, 'Redis rate limiter failed: counting in memory'),
        )
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
      // A wait that falls short marks the answer `Vialog-Read-Your-Writes: stale` (platform/http/read-your-writes.ts).
      waitForProjections: async (names, position) => {
        const timeoutMs = config.READ_YOUR_WRITES_TIMEOUT_MS;
        const outcome = await engine.awaitProjections(names, position, { timeoutMs });
        if (!outcome.reached) noteStaleRead();
        return outcome.reached;
      },
      ...(options.passwordHasher ? { passwordHasher: options.passwordHasher } : {}),
    });
    await modules.start();
    shutdown.register('modules', () => modules.stop());
    const readinessChecks: ReadinessCheck[] = [
      { name: 'postgres', check: async () => void (await knex.raw('SELECT 1')) },
      {
        name: 'eventStore',
        check: async () => {
          await store.ping();
          return { kind: store.kind };
        },
      },
      {
        name: 'projections',
        check: () => projectionsReadiness(engine, store, config.READY_MAX_PROJECTION_LAG_SECONDS),
      },
    ];
    if (infrastructure.redis) readinessChecks.push(redisReadinessCheck(infrastructure.redis));
    const app = createHttpApp({
      logger,
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      ownBodyPaths: ['/api/v1/imports'], // a CSV file, read by the imports route
      trustProxy: config.trustProxyHops,
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
        // Administration is for people: an API key (a program's credential) is refused there.
        sessionOnlyPaths(/^\/api\/v1\/admin(?:\/|$)/i, 'Administration'),
        idempotencyMiddleware(knex, config.IDEMPOTENCY_TTL_HOURS),
        readYourWritesMiddleware(),
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

/** Where each read model stands, and how long the transaction horizon holds readers back: sampled at every scrape. */
function registerProjectionMetrics(engine: ProjectionEngine, store: EventStore): void {
  const gauge = (name: string, description: string, unit?: string) =>
    meter().createObservableGauge(name, unit === undefined ? { description } : { description, unit });
  const lagEvents = gauge('vialog.projection.lag.events', 'Events in the log after the projection checkpoint');
  const lagSeconds = gauge(
    'vialog.projection.lag.seconds',
    'Age of the oldest event the projection has not applied',
    's',
  );
  const applied = gauge('vialog.projection.events_applied', 'Events applied since the last rebuild');
  const failed = gauge(
    'vialog.projection.failed',
    '1 while the projection is failed at an event and waits for an operator (resume or skip)',
  );
  const horizonAge = gauge(
    'vialog.eventstore.horizon.age_seconds',
    'How long an older transaction has held event readers back',
    's',
  );
  const waiting = gauge(
    'vialog.eventstore.events_waiting',
    'Committed events readers cannot see yet (held back by an older transaction)',
  );
  meter().addBatchObservableCallback(
    async (result) => {
      for (const s of await engine.status().catch(() => [])) {
        result.observe(lagEvents, s.lagEvents, { projection: s.name });
        result.observe(lagSeconds, s.lagSeconds, { projection: s.name });
        result.observe(applied, s.eventsApplied, { projection: s.name });
        result.observe(failed, s.status === 'failed' ? 1 : 0, {
          projection: s.name,
          event_type: s.failedEvent?.type ?? '',
        });
      }
      const horizon = await store.horizon?.().catch(() => undefined);
      if (horizon) {
        result.observe(horizonAge, horizon.ageSeconds);
        result.observe(waiting, horizon.waitingEvents);
      }
    },
    [lagEvents, lagSeconds, applied, failed, horizonAge, waiting],
  );
}

/**
 * Readiness of the read models. Lag past the threshold fails it (API.md): this pod cannot keep its
 * read-your-writes promise. A FAILED projection only degrades it: one event the code cannot apply
 * is the same for every pod, so taking pods out of service would take every unrelated route down
 * with it, for good; the failed projection is shown here, in its status, and alerted on.
 */
async function projectionsReadiness(
  engine: ProjectionEngine,
  store: EventStore,
  maxLagSeconds: number,
): Promise<Record<string, unknown> | Degraded> {
  const [statuses, horizon] = await Promise.all([engine.status(), store.horizon?.()]);
  const failed = statuses.filter((s) => s.status === 'failed');
  const lagging = statuses.filter((s) => s.status !== 'failed' && s.lagSeconds > maxLagSeconds);
  if (lagging.length > 0) {
    const held =
      horizon && horizon.ageSeconds > maxLagSeconds
        ? ` (an older transaction has held readers back for ${horizon.ageSeconds} s)`
        : '';
    throw new Error(`lagging: ${lagging.map((s) => `${s.name} ${s.lagSeconds}s`).join(', ')}${held}`);
  }
  const detail = {
    count: statuses.length,
    ...(horizon ? { horizonAgeSeconds: horizon.ageSeconds, eventsWaiting: horizon.waitingEvents } : {}),
    ...(failed.length > 0 ? { failed: failed.map((s) => ({ name: s.name, ...s.failedEvent })) } : {}),
  };
  if (failed.length > 0) {
    const named = failed.map((s) => `${s.name} at ${s.failedEvent?.position ?? '?'} (${s.failedEvent?.type ?? '?'})`);
    return new Degraded(`failed: ${named.join(', ')}`, detail);
  }
  if (horizon && horizon.ageSeconds > maxLagSeconds) {
    return new Degraded(`an older transaction has held event readers back for ${horizon.ageSeconds} s`, detail);
  }
  return detail;
}
