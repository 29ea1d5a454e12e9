// The event store contract against PostgreSQL, plus what only the Postgres adapter has to prove:
// a slow writer makes readers wait but never skip, upcasting on read, immutable rows.
import test from 'ava';
import pg from 'pg';
import { openPostgresEventStore, type PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { UpcasterRegistry } from '../../platform/eventstore/upcasting.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { eventDigest } from '../../platform/eventstore/hash-chain.ts';
import { StreamLinks } from '../../platform/audit/verify-log.ts';
import {
  comparePositions,
  StreamConflictError,
  type Position,
  type RecordedEvent,
} from '../../platform/eventstore/port.ts';
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
  const upcasters = new UpcasterRegistry().register('Renamed', 1, (data) => ({
    fullName: `${String(data.first)} ${String(data.last)}`,
  }));
  store = openPostgresEventStore({ url: db.url, pollIntervalMs: 100, upcasters });
});
test.after.always(async () => {
  await store?.close();
  await db?.drop();
});

test.serial('headPosition is the numerically last event, also across a power of ten (not text order)', async (t) => {
  const knex = createKnex({ url: db.url });
  try {
    const { rows } = await knex.raw<{ rows: { max: string | null }[] }>(
      'SELECT max(position)::text AS max FROM events',
    );
    // The next power of ten above anything stored, minus 3: the append below crosses it.
    const from = 10 ** String(Number(rows[0]?.max ?? 0) + 10).length - 3;
    await knex.raw(`ALTER TABLE events ALTER COLUMN position RESTART WITH ${from}`);
  } finally {
    await knex.destroy();
  }
  const appended = await store.append(
    'head-digits',
    Array.from({ length: 6 }, () => newEvent('Digit')),
    { expectedRevision: 'no_stream' },
  );
  t.is(
    appended.position.prepare.toString().length,
    (appended.position.prepare - 5n).toString().length + 1,
    'the append crossed a power of ten',
  );
  let head = await store.headPosition();
  // Undefined while an older transaction anywhere on the server holds the visible horizon back.
  for (let tries = 0; tries < 200 && (!head || comparePositions(head, appended.position) < 0); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    head = await store.headPosition();
  }
  t.deepEqual(head, appended.position);
});

test.serial(
  'a transaction that started first and commits last is delivered, not skipped; readers wait for it',
  async (t) => {
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
    t.deepEqual(
      delivered.map((e) => e.type),
      ['Slow', 'Fast', 'Fast', 'Fast', 'Fast', 'Fast'],
    );
    for (let i = 1; i < delivered.length; i++)
      t.true(comparePositions(delivered[i - 1]!.position, delivered[i]!.position) < 0);
  },
);

test.serial(
  'a subscription from a checkpoint ahead of the visible horizon never moves back (an older transaction elsewhere holds the horizon)',
  async (t) => {
    const id = `horizon-${Date.now()}`;
    await store.append(`${id}-earlier`, [newEvent('Earlier')], { expectedRevision: 'no_stream' });
    // A transaction that took its id before the events below: until it ends, they are not yet "safely visible".
    const old = new pg.Client({ connectionString: db.url });
    await old.connect();
    await old.query('BEGIN');
    await old.query('SELECT pg_current_xact_id()');
    const first = await store.append(id, [newEvent('Before1'), newEvent('Before2')], { expectedRevision: 'no_stream' });
    const controller = new AbortController();
    const seen: string[] = [];
    const checkpoints: Position[] = [];
    const subscription = (async () => {
      for await (const batch of store.subscribe({ after: first.position, signal: controller.signal })) {
        seen.push(...batch.events.filter((e) => e.streamId === id).map((e) => e.type));
        checkpoints.push(batch.checkpoint);
        if (seen.includes('Live2')) break;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 400)); // the subscriber polls while the horizon is held back
    await old.query('COMMIT');
    await old.end();
    await store.append(id, [newEvent('Live1'), newEvent('Live2')], { expectedRevision: 1 });
    const timeout = setTimeout(() => controller.abort(), 10_000);
    await subscription;
    clearTimeout(timeout);
    t.deepEqual(seen, ['Live1', 'Live2']);
    t.true(
      checkpoints.every((c) => comparePositions(c, first.position) >= 0),
      'no checkpoint behind the one subscribed from',
    );
  },
);

test.serial('old schema versions are upcast on read, the stored row stays as written', async (t) => {
  const event = newEvent('Renamed', { first: 'Ada', last: 'Lovelace' });
  await store.append('upcast-1', [event], { expectedRevision: 'no_stream' });
  const [read] = await store.readStream('upcast-1');
  t.deepEqual(read?.data, { fullName: 'Ada Lovelace' });
  t.is(read?.metadata.schemaVersion, 2);
  const raw = await store.pool.query<{ data: unknown; schema_version: number }>(
    "SELECT data, schema_version FROM events WHERE stream_id = 'upcast-1'",
  );
  t.deepEqual(raw.rows[0], { data: { first: 'Ada', last: 'Lovelace' }, schema_version: 1 });
});

test.serial('stored events cannot be updated, deleted or truncated, and no setting turns that off', async (t) => {
  await store.append('immutable-1', [newEvent('Fact')], { expectedRevision: 'no_stream' });
  await t.throwsAsync(store.pool.query("UPDATE events SET data = '{\"x\":1}' WHERE stream_id = 'immutable-1'"), {
    message: /append-only/,
  });
  await t.throwsAsync(store.pool.query("DELETE FROM events WHERE stream_id = 'immutable-1'"), {
    message: /append-only/,
  });
  // The former bypass setting is gone: setting it changes nothing.
  const client = await store.pool.connect();
  try {
    // TRUNCATE takes its lock before the trigger refuses: never wait behind a transaction left open.
    await client.query("SET lock_timeout = '10s'");
    await t.throwsAsync(client.query('TRUNCATE events'), { message: /append-only/ });
    await client.query('RESET lock_timeout');
    await client.query('BEGIN');
    await client.query(`SET LOCAL vialog.allow_event_rewrite = 'on'`);
    await t.throwsAsync(client.query("DELETE FROM events WHERE stream_id = 'immutable-1'"), { message: /append-only/ });
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  t.is((await store.readStream('immutable-1')).length, 1);
});

test.serial('bad metadata is refused before anything is written', async (t) => {
  const bad = { ...newEvent('Bad'), metadata: { ...newEvent('Bad').metadata, eventId: 'not-a-uuid' } };
  await t.throwsAsync(store.append('bad-meta', [bad], { expectedRevision: 'no_stream' }));
  t.false(await store.streamExists('bad-meta'));
});

/** Recomputes a stream's chain from the stored rows (as verify does) and compares it with the stored hashes. */
async function chainHolds(streamId: string): Promise<{ rows: number; broken: number[] }> {
  type Row = { revision: number; type: string; schema_version: number; data: string; metadata: string; hash: string };
  type Versioned = Row & { version: number };
  const rows = await store.pool.query<Versioned>(
    `SELECT revision, type, schema_version, data::text AS data, metadata::text AS metadata, encode(hash, 'hex') AS hash,
            hash_version AS version
       FROM events WHERE stream_id = $1 ORDER BY revision`,
    [streamId],
  );
  const links = new StreamLinks();
  const broken: number[] = [];
  for (const row of rows.rows) {
    const { revision, type, hash } = row;
    const stored = { dataText: row.data, metadataText: row.metadata, hash, hashVersion: row.version };
    const event = { streamId, revision, type, schemaVersion: row.schema_version, ...stored };
    if (row.version !== 2 || links.check(event, eventDigest(event))) broken.push(row.revision);
  }
  return { rows: rows.rowCount ?? 0, broken };
}

/** The names of the statements the store sends while `work` runs. */
async function statementsDuring(work: () => Promise<unknown>): Promise<string[]> {
  const names: string[] = [];
  const original = store.pool.query.bind(store.pool);
  (store.pool as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => {
    if (typeof config === 'object' && config !== null && 'name' in config) names.push(String(config.name));
    return (original as (...a: unknown[]) => unknown)(config, ...rest);
  };
  try {
    await work();
  } finally {
    (store.pool as { query: unknown }).query = original;
  }
  return names;
}

test.serial(
  'the light append (one event after a head read or written here) chains exactly like the general one',
  async (t) => {
    const stream = 'light-chain';
    const awkward = {
      text: 'Zoë "quoted" \\ back\nline\ttab \u0001 ✓ 𝄞',
      nested: { b: [1, 2.5, -0, 1e21, 1e-7, null, true], a: {} },
      long_key_first: 'x',
      k: '',
    };
    const names = await statementsDuring(async () => {
      let revision = (await store.append(stream, [newEvent('Started', awkward)], { expectedRevision: 'no_stream' }))
        .nextExpectedRevision;
      for (let i = 0; i < 3; i++)
        revision = (await store.append(stream, [newEvent('Noted', { i, ...awkward })], { expectedRevision: revision }))
          .nextExpectedRevision;
      // Two events at once take the general statement; the head it returns keeps the light path open.
      revision = (
        await store.append(stream, [newEvent('Pair', { n: 1 }), newEvent('Pair', { n: 2 })], {
          expectedRevision: revision,
        })
      ).nextExpectedRevision;
      revision = (await store.append(stream, [newEvent('After')], { expectedRevision: revision })).nextExpectedRevision;
      await store.append(stream, [newEvent('Any')], { expectedRevision: 'any' });
    });
    t.deepEqual(
      names.filter((n) => n.startsWith('vialog_append')),
      [
        'vialog_append_one_after_known_head',
        'vialog_append_one_after_known_head',
        'vialog_append_one_after_known_head',
        'vialog_append_one_after_known_head',
        'vialog_append',
        'vialog_append_one_after_known_head',
        'vialog_append',
      ],
    );
    t.deepEqual(await chainHolds(stream), { rows: 8, broken: [] });
  },
);

test.serial(
  'a head learned by reading the stream allows the light append; a stale head is a conflict, not a fork',
  async (t) => {
    const stream = 'light-read';
    await store.append(stream, [newEvent('A')], { expectedRevision: 'no_stream' });
    const other = openPostgresEventStore({ url: db.url });
    try {
      // Another process appends revision 1 behind this store's back.
      await other.append(stream, [newEvent('B')], { expectedRevision: 0 });
      const conflict = await t.throwsAsync(store.append(stream, [newEvent('C')], { expectedRevision: 0 }));
      t.true(conflict instanceof StreamConflictError);
      const events = await store.readStream(stream);
      const names = await statementsDuring(() =>
        store.append(stream, [newEvent('C')], { expectedRevision: events.at(-1)!.revision }),
      );
      t.deepEqual(names, ['vialog_append_one_after_known_head']);
      t.deepEqual(await chainHolds(stream), { rows: 3, broken: [] });
    } finally {
      await other.close();
    }
  },
);

test.serial('light appends racing on one head: exactly one wins, the chain stays whole', async (t) => {
  const stream = 'light-race';
  const first = await store.append(stream, [newEvent('Start')], { expectedRevision: 'no_stream' });
  const outcomes = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) =>
      store.append(stream, [newEvent('Racer', { i })], { expectedRevision: first.nextExpectedRevision }),
    ),
  );
  t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  t.true(outcomes.filter((o) => o.status === 'rejected').every((o) => o.reason instanceof StreamConflictError));
  t.deepEqual(await chainHolds(stream), { rows: 2, broken: [] });
});
