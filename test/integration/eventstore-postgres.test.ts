// The event store contract against PostgreSQL, plus what only the Postgres adapter has to prove:
// a slow writer makes readers wait but never skip, upcasting on read, immutable rows.
import test from 'ava';
import pg from 'pg';
import { openPostgresEventStore, type PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { UpcasterRegistry } from '../../platform/eventstore/upcasting.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { comparePositions, type RecordedEvent } from '../../platform/eventstore/port.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { eventStoreContract, newEvent } from './eventstore-contract.ts';

async function migratedDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  const knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  await knex.destroy();
  return db;
}

eventStoreContract(test, async () => {
  const db = await migratedDatabase();
  const store = openPostgresEventStore({ url: db.url, poolMax: 20, pollIntervalMs: 200 });
  return {
    store,
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});

let db: TestDatabase;
let store: PostgresEventStore;
test.before(async () => {
  db = await migratedDatabase();
  const upcasters = new UpcasterRegistry().register('Renamed', 1, (data) => ({ fullName: `${String(data.first)} ${String(data.last)}` }));
  store = openPostgresEventStore({ url: db.url, pollIntervalMs: 100, upcasters });
});
test.after.always(async () => {
  await store?.close();
  await db?.drop();
});

test.serial('a transaction that started first and commits last is delivered, not skipped; readers wait for it', async (t) => {
  const start = await store.headPosition();
  const slow = new pg.Client({ connectionString: db.url });
  await slow.connect();
  // The slow writer takes its transaction id first, then holds its transaction open.
  await slow.query('BEGIN');
  await slow.query(
    `INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata)
     VALUES ('slow-writer', 0, $1, 'Slow', 1, '{}', $2)`,
    [newEvent('Slow').metadata.eventId, JSON.stringify(newEvent('Slow').metadata)],
  );
  const controller = new AbortController();
  const delivered: RecordedEvent[] = [];
  const subscription = (async () => {
    for await (const batch of store.subscribe({ ...(start ? { after: start } : {}), signal: controller.signal })) {
      delivered.push(...batch.events);
      if (delivered.some((e) => e.type === 'Slow') && delivered.filter((e) => e.type === 'Fast').length === 5) return;
    }
  })();
  for (let i = 0; i < 5; i++) await store.append(`fast-${i}`, [newEvent('Fast')], { expectedRevision: 'no_stream' });
  await new Promise((r) => setTimeout(r, 500));
  t.deepEqual(delivered, [], 'nothing behind the open transaction is delivered while it is open');
  t.deepEqual(await store.readAll({ ...(start ? { after: start } : {}), maxCount: 100 }), []);
  await slow.query('COMMIT');
  await slow.end();
  const timeout = setTimeout(() => controller.abort(), 10_000);
  await subscription;
  clearTimeout(timeout);
  controller.abort();
  t.deepEqual(delivered.map((e) => e.type), ['Slow', 'Fast', 'Fast', 'Fast', 'Fast', 'Fast']);
  for (let i = 1; i < delivered.length; i++) t.true(comparePositions(delivered[i - 1]!.position, delivered[i]!.position) < 0);
});

test.serial('old schema versions are upcast on read, the stored row stays as written', async (t) => {
  const event = newEvent('Renamed', { first: 'Ada', last: 'Lovelace' });
  await store.append('upcast-1', [event], { expectedRevision: 'no_stream' });
  const [read] = await store.readStream('upcast-1');
  t.deepEqual(read?.data, { fullName: 'Ada Lovelace' });
  t.is(read?.metadata.schemaVersion, 2);
  const raw = await store.pool.query<{ data: unknown; schema_version: number }>("SELECT data, schema_version FROM events WHERE stream_id = 'upcast-1'");
  t.deepEqual(raw.rows[0], { data: { first: 'Ada', last: 'Lovelace' }, schema_version: 1 });
});

test.serial('stored events cannot be updated or deleted', async (t) => {
  await store.append('immutable-1', [newEvent('Fact')], { expectedRevision: 'no_stream' });
  await t.throwsAsync(store.pool.query("UPDATE events SET data = '{\"x\":1}' WHERE stream_id = 'immutable-1'"), { message: /append-only/ });
  await t.throwsAsync(store.pool.query("DELETE FROM events WHERE stream_id = 'immutable-1'"), { message: /append-only/ });
});

test.serial('bad metadata is refused before anything is written', async (t) => {
  const bad = { ...newEvent('Bad'), metadata: { ...newEvent('Bad').metadata, eventId: 'not-a-uuid' } };
  await t.throwsAsync(store.append('bad-meta', [bad], { expectedRevision: 'no_stream' }));
  t.false(await store.streamExists('bad-meta'));
});
