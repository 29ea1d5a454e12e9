// Tampering as a database administrator would, each on its own copy of one log: a digest signed
// before the tampering must fail to verify, with the right kind of problem; an untouched copy
// verifies. The administrator edits as the owner/superuser, getting past the append-only trigger
// the way only they can (session_replication_role = replica, or ALTER TABLE … DISABLE TRIGGER).
import { randomBytes, randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import pg from 'pg';
import { createKnex } from '../../platform/database/knex.ts';
import { AuditDigester } from '../../platform/audit/digester.ts';
import { signDigest, type AuditDigest } from '../../platform/audit/digest.ts';
import { storedDigests } from '../../platform/audit/digest-store.ts';
import { signingKeyFromSeed, type AuditKeyRing } from '../../platform/audit/keys.ts';
import { verifyLog, type LogVerification } from '../../platform/audit/verify-log.ts';
import { CONTENT_V2_SQL, eventDigest, link } from '../../platform/eventstore/hash-chain.ts';
import { openPostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { comparePositions, type EventStore, type Position } from '../../platform/eventstore/port.ts';
import { createLogger } from '../../platform/logging.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../support/database.ts';
import { newEvent } from './eventstore-contract.ts';

const signing = signingKeyFromSeed('tamper-test', randomBytes(32));
const keys: AuditKeyRing = { signing, verify: [signing] };
const logger = createLogger({ level: 'silent' });

let seed: TestDatabase;
/** Signed before any tampering, over the seeded log. */
let before: AuditDigest;
/** stream → its events' positions ("<commit>/<prepare>") in revision order, and the xid/position columns. */
const layout = new Map<string, { position: string; commit: string; prepare: string }[]>();
const copies: TestDatabase[] = [];

const streams = {
  sample: `sample-${randomUUID()}`,
  other: `sample-${randomUUID()}`,
  user: `user-${randomUUID()}`,
  lonely: `apikey-${randomUUID()}`,
};

test.before(async () => {
  seed = await createTestDatabase('vialog_tamper');
  const knex = createKnex({ url: seed.url });
  await migrateToLatest(knex);
  const store = openPostgresEventStore({ url: seed.url });
  try {
    const fresh = { expectedRevision: 'no_stream' } as const;
    const registered = await store.append(streams.sample, [newEvent('SampleRegistered', { subjectId: 'P001' })], fresh);
    await store.append(streams.user, [newEvent('UserRegistered', { name: 'ada' }), newEvent('UserPromoted')], fresh);
    let revision = registered.nextExpectedRevision;
    for (const to of ['freezer-1', 'freezer-2', 'bench']) {
      revision = (await store.append(streams.sample, [newEvent('SampleMoved', { to })], { expectedRevision: revision }))
        .nextExpectedRevision;
    }
    await store.append(streams.other, [newEvent('SampleRegistered'), newEvent('SampleMoved')], fresh);
    await store.append(streams.lonely, [newEvent('ApiKeyCreated', { name: 'robot' })], fresh);
    const last = await store.append(streams.user, [newEvent('UserRenamed')], { expectedRevision: 'any' });
    await untilVisible(store, last.position);
    before = await digesterFor(store, knex, seed.url).digest('command');
    const { rows } = await knex.raw<{ rows: { stream_id: string; commit: string; prepare: string }[] }>(
      `SELECT stream_id, transaction_id::text AS commit, position::text AS prepare
         FROM events ORDER BY stream_id, revision`,
    );
    for (const { stream_id: stream, commit, prepare } of rows) {
      layout.set(stream, [...(layout.get(stream) ?? []), { position: `${commit}/${prepare}`, commit, prepare }]);
    }
  } finally {
    await store.close();
    await knex.destroy();
  }
});

test.after.always(async () => {
  for (const copy of copies) await copy.drop().catch(() => undefined);
  await seed?.drop();
});

const digesterFor = (store: EventStore, knex: Knex, databaseUrl: string) =>
  new AuditDigester({ store, knex, keys, logger, databaseUrl, everyEvents: 0, intervalSeconds: 0 });

/** As an administrator who knows the (public) formula: recomputes the chain hash of the rows `where` selects. */
const rehash = (where: string) => `UPDATE events e SET hash = sha256(
    (SELECT p.hash FROM events p WHERE p.stream_id = e.stream_id AND p.revision = e.revision - 1) ||
    sha256(${CONTENT_V2_SQL('e', 'e.stream_id')}))
  WHERE ${where}`;

/**
 * A fresh database holding exactly the seeded log (CREATE DATABASE … TEMPLATE), dropped after the
 * test. One at a time: CREATE DATABASE holds a transaction id while it copies, which holds back the
 * read horizon of every database on the server.
 */
async function copyOfLog(t: ExecutionContext): Promise<TestDatabase> {
  const name = `vialog_tamper_copy_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${seed.name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(testServerUrl());
  url.pathname = `/${name}`;
  const copy: TestDatabase = {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: testServerUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
  copies.push(copy);
  t.teardown(() => copy.drop());
  return copy;
}

/** Runs SQL as the administrator, with the append-only triggers off for the session (superuser only). */
async function asDba(db: TestDatabase, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

async function verifyCopy(db: TestDatabase, digest: AuditDigest = before): Promise<LogVerification> {
  const store: EventStore = openPostgresEventStore({ url: db.url });
  const knex = createKnex({ url: db.url });
  try {
    return await verifyLog(store, digest, keys.verify, { checkpoints: await storedDigests(knex) });
  } finally {
    await store.close();
    await knex.destroy();
  }
}

const at = (stream: string, revision: number) => layout.get(stream)![revision]!;

/** Readers see an event once every older transaction on the server has ended (other test files run meanwhile). */
async function untilVisible(store: EventStore, position: Position): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const head = await store.headPosition();
    if (head && comparePositions(head, position) >= 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the appended events did not become visible');
}

/** A copy of the log with these statements run on it by a DBA, verified against the digest taken before. */
async function tampered(t: ExecutionContext, ...statements: string[]): Promise<LogVerification> {
  const db = await copyOfLog(t);
  await asDba(db, ...statements);
  return verifyCopy(db);
}

const kinds = (report: LogVerification) => report.problems.map((p) => p.kind);

test.serial('an untouched copy verifies', async (t) => {
  const report = await verifyCopy(await copyOfLog(t));
  t.deepEqual(report, { ok: true, checkedEvents: before.eventCount, firstBrokenPosition: null, problems: [] });
  t.is(before.eventCount, 10);
});

test.serial('an event edited with its hash left alone: modified, at that event', async (t) => {
  const target = at(streams.sample, 2);
  const report = await tampered(
    t,
    `UPDATE events SET data = '{"to": "incinerator"}' WHERE position = ${target.prepare}`,
  );
  t.false(report.ok);
  t.like(report.problems, [{ kind: 'modified', position: target.position, streamId: streams.sample }]);
  t.is(report.problems.length, 1);
  t.is(report.firstBrokenPosition, target.position);
});

test.serial('the schema version edited (which upcaster runs): modified', async (t) => {
  const target = at(streams.user, 1);
  const report = await tampered(t, `UPDATE events SET schema_version = 2 WHERE position = ${target.prepare}`);
  t.like(report.problems, [{ kind: 'modified', position: target.position, streamId: streams.user }]);
});

test.serial("deleting a stream's last event: missing", async (t) => {
  const report = await tampered(t, `DELETE FROM events WHERE position = ${at(streams.sample, 3).prepare}`);
  t.false(report.ok);
  t.is(report.checkedEvents, before.eventCount - 1);
  t.deepEqual(kinds(report), ['missing']);
  t.regex(report.problems[0]!.detail, /^1 event\(s\) missing/);
});

test.serial('deleting a whole stream: missing', async (t) => {
  const report = await tampered(t, `DELETE FROM events WHERE stream_id = '${streams.other}'`);
  t.deepEqual(kinds(report), ['missing']);
  t.regex(report.problems[0]!.detail, /^2 event\(s\) missing/);
});

test.serial('deleting an event inside a stream: missing, at the event after the gap', async (t) => {
  const report = await tampered(t, `DELETE FROM events WHERE position = ${at(streams.sample, 1).prepare}`);
  const detail = 'Revision 1 is missing before this event.';
  const { position } = at(streams.sample, 2);
  t.deepEqual(report.problems, [{ kind: 'missing', position, streamId: streams.sample, detail }]);
});

test.serial(
  'hash set to NULL on later events while their data changes: modified (a break, not a restart)',
  async (t) => {
    const later = [at(streams.sample, 2), at(streams.sample, 3)];
    const rows = later.map((p) => p.prepare).join(', ');
    const report = await tampered(
      t,
      `UPDATE events SET hash = NULL, data = '{"to": "elsewhere"}' WHERE position IN (${rows})`,
    );
    t.false(report.ok);
    t.is(report.firstBrokenPosition, later[0]!.position);
    t.true(report.problems.every((p) => p.kind === 'modified' && p.streamId === streams.sample));
    t.regex(report.problems[0]!.detail, /hash was removed/);
  },
);

test.serial('TRUNCATE events: emptied', async (t) => {
  const report = await tampered(t, 'TRUNCATE events');
  t.like(report, { ok: false, checkedEvents: 0, firstBrokenPosition: null });
  t.deepEqual(kinds(report), ['emptied']);
});

test.serial(
  'an event edited and every later hash recomputed (the formula is public): the signed head shows it',
  async (t) => {
    const db = await copyOfLog(t);
    const target = at(streams.sample, 1);
    // Rewrite the stream's chain from the edited event on, exactly as the append would have.
    await asDba(
      db,
      `UPDATE events SET data = '{"to": "freezer-9"}' WHERE position = ${target.prepare}`,
      ...[1, 2, 3].map((revision) => rehash(`e.stream_id = '${streams.sample}' AND e.revision = ${revision}`)),
    );
    const report = await verifyCopy(db);
    t.false(report.ok);
    t.deepEqual(kinds(report), ['modified']);
    t.regex(report.problems[0]!.detail, /no longer reproduce the signed head/);
  },
);

test.serial('a forged event inserted into the past, with a correct chain hash: inserted', async (t) => {
  const db = await copyOfLog(t);
  const first = at(streams.sample, 0);
  const metadata = JSON.stringify(newEvent('SampleDisposed').metadata);
  // A new stream placed before the digest's position (an old transaction id), hashed as the append would.
  const streamId = `sample-${randomUUID()}`;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const metadataText = (await client.query<{ t: string }>('SELECT $1::jsonb::text AS t', [metadata])).rows[0]!.t;
  await client.end();
  const content = { streamId, revision: 0, type: 'SampleDisposed', schemaVersion: 1, dataText: '{}', metadataText };
  const hash = link(Buffer.alloc(0), eventDigest(content)).toString('hex');
  await asDba(
    db,
    `INSERT INTO events (transaction_id, stream_id, revision, event_id, type, schema_version, data, metadata, hash,
       hash_version)
     VALUES ('${first.commit}', '${streamId}', 0, '${randomUUID()}', 'SampleDisposed', 1, '{}', '${metadata}',
       '\\x${hash}', 2)`,
  );
  const report = await verifyCopy(db);
  t.is(report.checkedEvents, before.eventCount + 1);
  t.deepEqual(kinds(report), ['inserted']);
});

test.serial("two events of one stream swapped in the log's order: reordered", async (t) => {
  const db = await copyOfLog(t);
  const [a, b] = [at(streams.sample, 1), at(streams.sample, 2)];
  // The order is (transaction id, position): swapping the transaction ids swaps the two events.
  await asDba(
    db,
    `UPDATE events
     SET transaction_id = (CASE position WHEN ${a.prepare} THEN '${b.commit}' ELSE '${a.commit}' END)::xid8
     WHERE position IN (${a.prepare}, ${b.prepare})`,
  );
  const report = await verifyCopy(db);
  const found = report.problems.map((p) => [p.kind, p.streamId, p.position]);
  t.deepEqual(found, [['reordered', streams.sample, `${b.commit}/${a.prepare}`]]);
});

test.serial(
  'a digest whose figures were altered, or signed by an unknown key: bad signature, nothing read',
  async (t) => {
    const db = await copyOfLog(t);
    const altered = await verifyCopy(db, { ...before, eventCount: before.eventCount - 1 });
    t.like(altered, { ok: false, checkedEvents: 0 });
    t.deepEqual(
      altered.problems.map((p) => p.kind),
      ['bad_signature'],
    );
    const stranger = signingKeyFromSeed('stranger', randomBytes(32));
    const empty = { position: { commit: 0n, prepare: 0n }, eventCount: 0, head: Buffer.alloc(32) };
    const forged = signDigest(empty, { signing: stranger, verify: [stranger] });
    t.deepEqual(
      (await verifyCopy(db, forged)).problems.map((p) => p.kind),
      ['bad_signature'],
    );
  },
);

test.serial('stored digests narrow down where an unlocated change happened', async (t) => {
  const db = await copyOfLog(t);
  // Two more digests on this copy: one now, one after more events.
  const store = openPostgresEventStore({ url: db.url });
  const knex = createKnex({ url: db.url });
  const digester = digesterFor(store, knex, db.url);
  let later: AuditDigest;
  try {
    const middle = await digester.digest('command');
    const events = [newEvent('SampleRegistered'), newEvent('SampleMoved')];
    const appended = await store.append(`sample-${randomUUID()}`, events, { expectedRevision: 'no_stream' });
    await untilVisible(store, appended.position);
    later = await digester.digest('command');
    t.is(later.eventCount, before.eventCount + 2);
    // Edit one of the new events and recompute its hash: only the head shows it.
    await asDba(
      db,
      `UPDATE events SET data = '{"forged": true}' WHERE position = ${appended.position.prepare}`,
      rehash(`e.position = ${appended.position.prepare}`),
    );
    const report = await verifyCopy(db, later);
    t.deepEqual(kinds(report), ['modified']);
    t.true(report.problems[0]!.detail.includes(`after ${middle.position}`), report.problems[0]!.detail);
    t.true((await verifyCopy(db, before)).ok, 'the older digest does not cover the edited event');
  } finally {
    await store.close();
    await knex.destroy();
  }
});
