// npm run bench:verify — verifying a signed audit digest against a log of 1,000,000 events
// (POST /api/v1/audit/verify, `vialog audit verify`): one pass in global order recomputing every
// event's digest, every stream's chain and the whole-log head. Side by side in one run:
//   1. the floor: reading the same events as stored (readAllStored pages), nothing computed
//   2. signing a digest from scratch (the head alone)
//   3. verifying that digest (head, chains, revisions)
// Target: verification of 1,000,000 events in under 30 s.
// Env: BENCH_DATABASE_URL, BENCH_VERIFY_EVENTS (default 1,000,000), BENCH_VERIFY_STREAM_LENGTH
// (events per stream, default 10).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { signDigest } from '../platform/audit/digest.ts';
import { signingKeyFromSeed } from '../platform/audit/keys.ts';
import { EMPTY_LOG, advance, storedPages } from '../platform/audit/log-head.ts';
import { verifyLog } from '../platform/audit/verify-log.ts';
import { createKnex } from '../platform/database/knex.ts';
import { CONTENT_V2_SQL } from '../platform/eventstore/hash-chain.ts';
import { START, type EventStore } from '../platform/eventstore/port.ts';
import { openPostgresEventStore } from '../platform/eventstore/postgres.ts';
import { eventUpcasters } from '../app/upcasters.ts';
import { Progress } from '../platform/progress.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import { machineCpu, scratchDatabase } from './support.ts';

const EVENTS = Number(process.env.BENCH_VERIFY_EVENTS ?? 1_000_000);
const STREAM_LENGTH = Number(process.env.BENCH_VERIFY_STREAM_LENGTH ?? 10);
const STREAMS_PER_CHUNK = 10_000;

// Events shaped like the service's (sample data, full metadata), chained exactly as the append
// chains them (version 2), written by PostgreSQL itself: a chunk of streams per transaction,
// their events interleaved in the log's order (every stream's revision r before any's r + 1).
const SEED_SQL = `
INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata, hash, hash_version)
WITH RECURSIVE ids AS MATERIALIZED (
  SELECT s, r, gen_random_uuid() AS event_id FROM generate_series(?::bigint, ?::bigint) s, generate_series(0, ? - 1) r
), base AS MATERIALIZED (
  SELECT 'sample-' || md5(s::text) AS stream_id, r AS revision, e.event_id,
         CASE WHEN r = 0 THEN 'SampleRegistered' ELSE 'SampleMoved' END AS type, 1 AS schema_version,
         jsonb_build_object('sampleId', md5(s::text), 'ownerId', md5((s % 97)::text), 'sampleType', 'blood',
           'subjectId', 'P' || (s % 5000), 'collectionDate', '2026-01-02',
           'storageLocation', 'freezer-' || r || '-rowA', 'notes', repeat('x', 40)) AS data,
         jsonb_build_object('eventId', e.event_id, 'schemaVersion', 1, 'occurredAt', '2026-11-23T10:00:00.000Z',
           'actorId', md5((s % 97)::text), 'actorType', 'user', 'requestId', md5((s * 31 + r)::text),
           'correlationId', NULL, 'causationId', NULL, 'traceparent', NULL, 'reason', NULL) AS metadata
  FROM ids e
), chain AS (
  SELECT b.*, sha256('\\x'::bytea || sha256(${CONTENT_V2_SQL('b', 'b.stream_id')})) AS hash
  FROM base b WHERE b.revision = 0
  UNION ALL
  SELECT b.*, sha256(c.hash || sha256(${CONTENT_V2_SQL('b', 'b.stream_id')}))
  FROM chain c JOIN base b ON b.stream_id = c.stream_id AND b.revision = c.revision + 1
)
SELECT stream_id, revision, event_id, type, schema_version, data, metadata, hash, 2
FROM chain ORDER BY revision, stream_id`;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = Date.now();
  const value = await work();
  return { value, seconds: (Date.now() - started) / 1000 };
}

async function seed(knex: Knex): Promise<{ streams: number; total: number }> {
  const streams = Math.ceil(EVENTS / STREAM_LENGTH);
  const seeding = new Progress('seeding events', streams * STREAM_LENGTH);
  for (let first = 0; first < streams; first += STREAMS_PER_CHUNK) {
    const last = Math.min(streams, first + STREAMS_PER_CHUNK) - 1;
    await knex.raw(SEED_SQL, [first, last, STREAM_LENGTH]);
    seeding.update((last + 1) * STREAM_LENGTH);
  }
  seeding.done();
  // A log written long ago: vacuumed, hint bits set, nothing left to flush.
  await knex.raw('VACUUM (ANALYZE) events');
  await knex.raw('CHECKPOINT');
  return { streams, total: streams * STREAM_LENGTH };
}

/** Readers see the seeded events once every older transaction on the server has ended. */
async function untilVisible(store: EventStore, total: number): Promise<void> {
  for (let waited = 0; (await store.countAfter(START)) < total; waited += 1) {
    if (waited === 5) console.log('waiting for a transaction elsewhere on the server to end (the read horizon)');
    if (waited > 600) throw new Error('the seeded events never became visible');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function readFloor(store: EventStore): Promise<number> {
  let n = 0;
  for await (const page of storedPages(store, START)) n += page.length;
  return n;
}

const db = await scratchDatabase('verify');
const knex = createKnex({ url: db.url, poolMax: 2 });
const store = openPostgresEventStore({ url: db.url, poolMax: 4, upcasters: eventUpcasters() });
try {
  await migrateToLatest(knex);
  const { streams, total } = await seed(knex);
  await untilVisible(store, total);
  const read = await timed(() => readFloor(store));
  if (read.value !== total) throw new Error(`read ${read.value} of ${total} events`);

  const key = signingKeyFromSeed('bench', randomBytes(32));
  const keys = { signing: key, verify: [key] };
  const signed = await timed(async () => signDigest(await advance(store, EMPTY_LOG), keys));

  const progress = new Progress('verifying', total);
  const cpu = machineCpu();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  const onProgress = (done: number) => progress.update(done);
  const verified = await timed(() => verifyLog(store, signed.value, keys.verify, { onProgress }));
  clearInterval(sampler);
  progress.done();
  const cpuAfter = machineCpu();
  const report = verified.value;
  if (!report.ok || report.checkedEvents !== total) {
    throw new Error(`verification failed: ${JSON.stringify(report).slice(0, 500)}`);
  }

  const row = (figure: string, seconds: number) => ({ figure, seconds, eventsPerSecond: total / seconds });
  const rows = [
    row('read as stored (floor)', read.seconds),
    row('sign a digest from scratch (head)', signed.seconds),
    row('verify the digest (head, chains, revisions)', verified.seconds),
  ];
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`\naudit verification benchmark: ${fmt(total)} events in ${fmt(streams)} streams\n`);
  console.table(rows.map((r) => ({ figure: r.figure, s: r.seconds.toFixed(1), 'events/s': fmt(r.eventsPerSecond) })));
  const ratio = verified.seconds / read.seconds;
  const pass = verified.seconds < 30 * (total / 1_000_000);
  console.log(`verify ÷ read floor: ${ratio.toFixed(2)}; under 30 s per 1,000,000 events: ${pass ? 'pass' : 'FAIL'}`);
  const busy = cpu && cpuAfter ? cpuAfter.busySeconds - cpu.busySeconds : undefined;
  if (busy !== undefined) {
    const available = (verified.seconds * cpuAfter!.cores).toFixed(1);
    const cores = cpuAfter!.cores;
    console.log(`CPU busy while verifying, all processes: ${busy.toFixed(1)} s of ${available} s on ${cores} cores`);
  }
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  console.log(`peak RSS during verification: ${mb(peakRss)} MB (${mb(rssBefore)} MB before)`);
  const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(resultsDir, { recursive: true });
  const at = new Date().toISOString();
  const result = { at, events: total, streams, rows, ratio, pass, peakRssMb: mb(peakRss), busyCpuSeconds: busy };
  writeFileSync(path.join(resultsDir, 'verify.json'), JSON.stringify(result, null, 2));
  console.log('results saved to bench/results/verify.json');
} finally {
  await store.close();
  await knex.destroy();
  await db.drop();
}
