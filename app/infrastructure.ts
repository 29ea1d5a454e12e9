// Opens what every process role needs: PostgreSQL (DATABASE_URL, or the embedded one), the
// schema migrations, the event store (EventStoreDB or PostgreSQL) and Redis when configured.
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../platform/config.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform/database/embedded.ts';
import { createKnex } from '../platform/database/knex.ts';
import { eventRewriteRisk, grantRuntimeRole } from '../platform/database/runtime-role.ts';
import { openEventStore } from '../platform/eventstore/open.ts';
import { tracedEventStore } from '../platform/eventstore/traced.ts';
import type { EventStore } from '../platform/eventstore/port.ts';
import { createRateLimitRedis } from '../platform/http/rate-limit.ts';
import { safeError } from '../projections/engine/index.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import { eventUpcasters } from './upcasters.ts';

export interface Infrastructure {
  readonly databaseUrl: string;
  readonly embedded: EmbeddedPostgresHandle | undefined;
  readonly knex: Knex;
  readonly store: EventStore;
  readonly redis: Redis | undefined;
  readonly appliedMigrations: readonly string[];
  close(): Promise<void>;
}

export async function openDatabase(
  config: Config,
  logger: Logger,
): Promise<{ url: string; embedded: EmbeddedPostgresHandle | undefined }> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: undefined };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    log: (message) => logger.debug({ component: 'embedded-postgres' }, message),
    warn: (message) => logger.warn({ component: 'embedded-postgres' }, message),
  });
  logger.info({ dataDirectory: embedded.dataDirectory }, 'embedded PostgreSQL started (no DATABASE_URL)');
  return { url: embedded.url, embedded };
}

/** As the owner when DATABASE_MIGRATION_URL is set, which then makes the runtime login a member of vialog_runtime. */
async function migrate(config: Config, knex: Knex, logger: Logger): Promise<string[]> {
  if (!config.DATABASE_MIGRATION_URL) return migrateToLatest(knex);
  const owner = createKnex({ url: config.DATABASE_MIGRATION_URL, poolMax: 2, applicationName: 'vialog-migrate' });
  try {
    const applied = await migrateToLatest(owner);
    const login = await grantRuntimeRole(owner, knex);
    logger.debug({ login }, 'migrations ran as the owner; the service runs as the runtime role');
    return applied;
  } finally {
    await owner.destroy();
  }
}

export async function openInfrastructure(config: Config, logger: Logger): Promise<Infrastructure> {
  const { url, embedded } = await openDatabase(config, logger);
  const idleInTransactionTimeoutMs = config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS;
  const poolMax = config.DATABASE_POOL_MAX;
  const knex = createKnex({ url, poolMax, applicationName: 'vialog', idleInTransactionTimeoutMs });
  const appliedMigrations = await migrate(config, knex, logger);
  if (appliedMigrations.length > 0) logger.info({ migrations: appliedMigrations }, 'migrations applied');
  if (!config.EVENTSTORE_URL && config.NODE_ENV === 'production') {
    const risk = await eventRewriteRisk(knex);
    const fix = 'run the service as a runtime role, migrations as the owner (docs/operations.md)';
    if (risk) logger.warn(`${risk}: it could rewrite events; ${fix}`);
  }
  const store = tracedEventStore(
    openEventStore({
      eventStoreUrl: config.EVENTSTORE_URL,
      databaseUrl: url,
      poolMax: config.DATABASE_POOL_MAX,
      pollIntervalMs: config.PROJECTION_POLL_INTERVAL_MS,
      idleInTransactionTimeoutMs,
      upcasters: eventUpcasters(),
      // The error's class only: a read error may quote an event's content.
      onError: (error) => logger.warn({ error: safeError(error).text }, 'event store connection problem'),
    }),
  );
  try {
    // A log restored logically into another cluster would let new events sort before old ones.
    await store.assertAppendsSortLast?.();
  } catch (error) {
    await store.close().catch(() => undefined);
    await knex.destroy();
    await embedded?.stop();
    throw error;
  }
  // Fail fast instead of queueing: a rate limiter must never make a request wait for Redis.
  const redis = config.REDIS_URL ? createRateLimitRedis(config.REDIS_URL, logger) : undefined;
  return {
    databaseUrl: url,
    embedded,
    knex,
    store,
    redis,
    appliedMigrations,
    async close() {
      redis?.disconnect();
      await store.close();
      await knex.destroy();
      await embedded?.stop();
    },
  };
}
