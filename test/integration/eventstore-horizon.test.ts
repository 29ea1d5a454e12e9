// Event-store operations that must not stall or mislead in silence (PostgreSQL adapter): events
// held back by an older transaction count as lag and are re-read promptly, the horizon's age is
// reported, the service's sessions end when left idle in a transaction, `any` appenders do not
// conflict, and a log restored logically into a new cluster is refused with the repair named.
// On a PostgreSQL server of its own (the embedded one): the horizon is server-wide, so holding it
// here would stall every other test file on the shared test server, and theirs would stall these.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Knex } from 'knex';
import { openInfrastructure } from '../../app/infrastructure.ts';
import { loadConfig } from '../../platform/config.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { createLogger } from '../../platform/logging.ts';
import { START } from '../../platform/eventstore/port.ts';
import {
  openPostgresEventStore,
  TransactionIdsBehindLogError,
  type PostgresEventStore,
} from '../../platform/eventstore/postgres.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../platform/database/embedded.ts';
import { newEvent } from './eventstore-contract.ts';
import { eventually } from './projections-fixtures.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'vialog-horizon-'));
let server: EmbeddedPostgresHandle;
let db: { url: string };
let knex: Knex;
let store: PostgresEventStore;

/** Another database on the test's own server. */
async function createDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
}

test.before(async () => {
  server = await startEmbeddedPostgres({ dataDir, database: 'vialog_horizon' });
  db = { url: server.url };
  knex = createKnex({ url: db.url, poolMax: 4 });
  await migrateToLatest(knex);
  store = openPostgresEventStore({ url: db.url, poolMax: 6 });
});

test.after.always(async () => {
  await store?.close();
  await knex?.destroy();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A session in a transaction that holds an xid (as a deferred CREATE INDEX or an idle session would). */
async function holdHorizon(): Promise<{ pid: number; release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url, application_name: 'horizon-holder' });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_current_xact_id()');
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return {
    pid,
    async release() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

test.serial('appends with expected revision "any" to one stream never conflict with each other', async (t) => {
  const stream = `any-${Date.now()}`;
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, () => store.append(stream, [newEvent('Raced')], { expectedRevision: 'any' })),
  );
  t.deepEqual(
    results.filter((r) => r.status === 'rejected').map((r) => String(r.reason)),
    [],
  );
  const revisions = (await store.readStream(stream)).map((e) => e.revision);
  t.deepEqual(
    revisions,
    Array.from({ length: 40 }, (_, i) => i),
  );
});

test.serial(
  'events committed behind an older transaction count as lag, and horizon() says for how long and who holds it',
  async (t) => {
    const holder = await holdHorizon();
    try {
      const before = await store.countAfter(START);
      for (let i = 0; i < 3; i++) {
        await store.append(`held-${i}`, [newEvent('Held')], { expectedRevision: 'no_stream' });
      }
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      t.is(await store.countAfter(START), before + 3, 'lag is not 0 while events wait');
      const horizon = await store.horizon();
      t.true(horizon.waitingEvents >= 3);
      t.true(horizon.ageSeconds >= 1, `held for ${horizon.ageSeconds} s`);
      t.not(horizon.holder, null);
      t.deepEqual(await store.readAll({ after: START, maxCount: 1000, eventTypes: ['Held'] }), [], 'not readable yet');
    } finally {
      await holder.release();
    }
    // (Any transaction on the server holds the horizon: another database's may still run a moment.)
    t.true(
      await eventually(
        async () => (await store.readAll({ after: START, maxCount: 1000, eventTypes: ['Held'] })).length === 3,
      ),
    );
    t.true(await eventually(async () => (await store.horizon()).waitingEvents === 0));
  },
);

test.serial(
  'a subscriber reads events as soon as the transaction holding them back ends, without waiting for its poll interval',
  async (t) => {
    const slowPolling = openPostgresEventStore({ url: db.url, poolMax: 2, pollIntervalMs: 60_000 });
    const stop = new AbortController();
    try {
      const head = (await slowPolling.headPosition()) ?? START;
      const delivered: string[] = [];
      let deliveredAt = 0;
      const consumer = (async () => {
        for await (const batch of slowPolling.subscribe({ after: head, eventTypes: ['Late'], signal: stop.signal })) {
          delivered.push(...batch.events.map((e) => e.streamId));
          if (delivered.length > 0) deliveredAt = Date.now();
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300)); // subscribed, found nothing, polls again in a minute
      const holder = await holdHorizon();
      await slowPolling.append('late-0', [newEvent('Late')], { expectedRevision: 'no_stream' }); // wakes the subscriber: nothing visible yet
      await new Promise((resolve) => setTimeout(resolve, 500));
      t.deepEqual(delivered, []);
      const releasedAt = Date.now();
      await holder.release(); // ends without an append: no notification
      const deadline = Date.now() + 20_000;
      while (delivered.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      t.deepEqual(delivered, ['late-0']);
      t.true(
        deliveredAt - releasedAt < 10_000,
        `delivered ${deliveredAt - releasedAt} ms after the horizon moved, not after the 60 s poll`,
      );
      stop.abort();
      await consumer;
    } finally {
      stop.abort();
      await slowPolling.close();
    }
  },
);

test.serial(
  "the service's sessions end when left idle inside a transaction (DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS)",
  async (t) => {
    const logger = createLogger({ level: 'silent' });
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      DATA_DIR: '.data/test-horizon',
      DATABASE_POOL_MAX: '2',
      DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '300',
    });
    const infrastructure = await openInfrastructure(config, logger);
    try {
      const shown = await infrastructure.knex.raw<{ rows: { idle_in_transaction_session_timeout: string }[] }>(
        'SHOW idle_in_transaction_session_timeout',
      );
      t.is(shown.rows[0]?.idle_in_transaction_session_timeout, '300ms');
      const storeSetting = await (infrastructure.store as unknown as PostgresEventStore).pool.query<{
        idle_in_transaction_session_timeout: string;
      }>('SHOW idle_in_transaction_session_timeout');
      t.is(storeSetting.rows[0]?.idle_in_transaction_session_timeout, '300ms');
      const error = await t.throwsAsync(
        infrastructure.knex.transaction(async (trx) => {
          await trx.raw('SELECT pg_current_xact_id()');
          await new Promise((resolve) => setTimeout(resolve, 1_500)); // a forgotten transaction
          await trx.raw('SELECT 1');
        }),
      );
      t.regex(String((error as { code?: string }).code ?? error?.message), /25P03|terminat|connection error/i);
    } finally {
      await infrastructure.close();
    }
    const defaults = loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, DATA_DIR: '.data/test-horizon' });
    t.is(defaults.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS, 30_000);
  },
);

test.serial(
  "start-up refuses a log whose transaction ids lie ahead of the cluster's (a logical restore), naming the repair",
  async (t) => {
    await store.assertAppendsSortLast(); // an ordinary log passes
    const restored = await createDatabase('vialog_restored');
    const restoredKnex = createKnex({ url: restored.url, poolMax: 2 });
    try {
      await migrateToLatest(restoredKnex);
      // As pg_dump/pg_restore leaves it: rows keep the ids of the old cluster, here one epoch ahead.
      await restoredKnex.raw(
        `INSERT INTO events (transaction_id, stream_id, revision, event_id, type, schema_version, data, metadata)
       VALUES ((pg_snapshot_xmax(pg_current_snapshot())::text::numeric + 4294967296)::text::xid8, 'old-1', 0, gen_random_uuid(), 'Old', 1, '{}', '{}')`,
      );
      const highest = (
        await restoredKnex.raw<{ rows: { t: string }[] }>('SELECT MAX(transaction_id)::text AS t FROM events')
      ).rows[0]!.t;
      const config = loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: restored.url,
        DATA_DIR: '.data/test-horizon',
        DATABASE_POOL_MAX: '2',
      });
      const error = await t.throwsAsync(openInfrastructure(config, createLogger({ level: 'silent' })), {
        instanceOf: TransactionIdsBehindLogError,
      });
      t.regex(error.message, /restored logically/);
      t.true(error.message.includes(`pg_resetwal -e ${(BigInt(highest) >> 32n) + 1n} `), "the epoch past the log's");
      t.regex(error.message, /docs\/operations\.md/);
    } finally {
      await restoredKnex.destroy();
      await restored.drop();
    }
  },
);
