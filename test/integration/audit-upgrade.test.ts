// An existing database upgraded to hash version 2: events stored without a hash (before migration
// 005) and events hashed with version 1 (before 008) keep verifying, streams started under the
// old formula go on under the new one, and edits of old events are still found.
import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import type { Knex } from 'knex';
import pg from 'pg';
import { AuditDigester } from '../../platform/audit/digester.ts';
import { signingKeyFromSeed } from '../../platform/audit/keys.ts';
import { verifyLog } from '../../platform/audit/verify-log.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { openPostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { comparePositions, type EventStore } from '../../platform/eventstore/port.ts';
import { createLogger } from '../../platform/logging.ts';
import { migrateToLatest, migrationSource } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { newEvent } from './eventstore-contract.ts';

const signing = signingKeyFromSeed('upgrade', randomBytes(32));
const keys = { signing, verify: [signing] };

/** The migrations up to and including `last`, as a database created back then had them. */
const migrationsUpTo = (last: string): Knex.MigrationSource<string> => ({
  ...migrationSource,
  getMigrations: async (extensions) => (await migrationSource.getMigrations(extensions)).filter((name) => name <= last),
});

// The version 1 append, as the adapter wrote it before version 2 (one event after a known head).
const V1_APPEND = `
INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata, hash)
SELECT $1, e.revision, $3::uuid, e.type, 1, e.data, e.metadata,
       sha256($5::bytea || convert_to($1 || E'\\n' || e.revision::text || E'\\n' || e.type || E'\\n' ||
                                        e.data::text || E'\\n' || e.metadata::text, 'UTF8'))
FROM (SELECT $2::integer AS revision, $4::text AS type, $6::jsonb AS data, $7::jsonb AS metadata) e
RETURNING hash`;

let db: TestDatabase;
let store: EventStore;
const legacy = `sample-${randomUUID()}`;
const v1 = `user-${randomUUID()}`;

test.before(async () => {
  db = await createTestDatabase('vialog_upgrade');
  const knex = createKnex({ url: db.url });
  try {
    await knex.migrate.latest({ migrationSource: migrationsUpTo('004_read_model_reader_role') });
    for (const [revision, type] of ['SampleRegistered', 'SampleMoved'].entries()) {
      const e = newEvent(type, { revision });
      await knex.raw(
        `INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata)
         VALUES (?, ?, ?, ?, 1, ?, ?)`,
        [legacy, revision, e.metadata.eventId, type, JSON.stringify(e.data), JSON.stringify(e.metadata)],
      );
    }
    await knex.migrate.latest({ migrationSource: migrationsUpTo('007_rebuild_progress') });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    let previous: Buffer = Buffer.alloc(0);
    for (const [revision, type] of ['UserRegistered', 'UserRenamed', 'UserPromoted'].entries()) {
      const e = newEvent(type, { revision, name: 'Zoë' });
      const [data, metadata] = [JSON.stringify(e.data), JSON.stringify(e.metadata)];
      const values = [v1, revision, e.metadata.eventId, type, previous, data, metadata];
      const { rows } = await client.query<{ hash: Buffer }>(V1_APPEND, values);
      previous = rows[0]!.hash;
    }
    await client.end();
    await migrateToLatest(knex);
  } finally {
    await knex.destroy();
  }
  store = openPostgresEventStore({ url: db.url });
  // Both old streams go on under version 2: after a known head (the light append) and with "any".
  const head = (await store.readStream(v1)).at(-1)!;
  await store.append(v1, [newEvent('UserRenamed', { name: 'Zoë L.' })], { expectedRevision: head.revision });
  await store.append(legacy, [newEvent('SampleMoved', { to: 'bench' })], { expectedRevision: 'any' });
  const last = await store.append(`sample-${randomUUID()}`, [newEvent('Registered')], { expectedRevision: 'any' });
  for (let tries = 0; tries < 400; tries++) {
    const visible = await store.headPosition();
    if (visible && comparePositions(visible, last.position) >= 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
});

test.after.always(async () => {
  await store?.close();
  await db?.drop();
});

async function dbaEdit(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query(sql);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

test.serial('old rows keep verifying beside new ones; edits of old rows are still found', async (t) => {
  const knex = createKnex({ url: db.url });
  try {
    type Row = { stream_id: string; revision: number; hash_version: number; hashed: boolean };
    const versions = await knex.raw<{ rows: Row[] }>(
      `SELECT stream_id, revision, hash_version, hash IS NOT NULL AS hashed FROM events
        WHERE stream_id IN (?, ?) ORDER BY stream_id, revision`,
      [legacy, v1],
    );
    const of = (stream: string) =>
      versions.rows.filter((r) => r.stream_id === stream).map((r) => [r.hash_version, r.hashed]);
    t.deepEqual(of(legacy), [
      [1, false],
      [1, false],
      [2, true],
    ]);
    t.deepEqual(of(v1), [
      [1, true],
      [1, true],
      [1, true],
      [2, true],
    ]);

    const logger = createLogger({ level: 'silent' });
    const options = { store, knex, keys, logger, databaseUrl: db.url, everyEvents: 0, intervalSeconds: 0 };
    const digester = new AuditDigester(options);
    const digest = await digester.digest('command');
    const ok = { ok: true, checkedEvents: 8, firstBrokenPosition: null, problems: [] };
    t.deepEqual(await verifyLog(store, digest, keys.verify), ok);

    // An event stored without a hash has only the signed head to protect it.
    await dbaEdit(`UPDATE events SET data = '{"revision": 9}' WHERE stream_id = '${legacy}' AND revision = 0`);
    t.deepEqual(
      (await verifyLog(store, digest, keys.verify)).problems.map((p) => p.kind),
      ['modified'],
    );
    // An event hashed with version 1 is checked under version 1, at its position.
    const target = (await store.readStream(v1, { fromRevision: 1, maxCount: 1 }))[0]!;
    await dbaEdit(`UPDATE events SET data = '{"name": "Eve"}' WHERE stream_id = '${v1}' AND revision = 1`);
    const report = await verifyLog(store, digest, keys.verify);
    const at = `${target.position.commit}/${target.position.prepare}`;
    t.deepEqual(
      report.problems.map((p) => [p.kind, p.streamId, p.position]),
      [['modified', v1, at]],
    );
  } finally {
    await knex.destroy();
  }
});
