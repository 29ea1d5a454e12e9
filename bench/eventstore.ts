// npm run bench:eventstore — the PostgreSQL event store against its physical limit and its best
// Node peer, in one run on one server and one concurrency:
//   1. appends/s of our adapter (1 event per append, 32 concurrent writers, 2,000 streams, exact expected revisions)
//   2. raw single-row INSERT transactions/s of a same-shaped row (what a durable command costs at least)
//   3. the same appends through Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql)
//   4. catch-up events/s of a trivial projection over 200,000 events, through the projection engine
// Targets: ≥ 0.6× raw insert, ≥ 2× Emmett, catch-up ≥ 50,000 events/s.
// Env: BENCH_DATABASE_URL (server to create scratch databases on), BENCH_SECONDS (per append phase).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createKnex } from '../platform/database/knex.ts';
import { openPostgresEventStore } from '../platform/eventstore/postgres.ts';
import type { NewEvent } from '../platform/eventstore/port.ts';
import { Progress } from '../platform/progress.ts';
import { ProjectionEngine, type Projection } from '../projections/engine/index.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import { scratchDatabase } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = 32;
const STREAMS = 2_000;
const CATCH_UP_EVENTS = Number(process.env.BENCH_CATCH_UP_EVENTS ?? 200_000);

// Emmett keeps pooled connections of its own after close(); dropping its scratch database
// terminates them (57P01), which its pool reports as an unhandled 'error'. Only that is ignored.
process.on('uncaughtException', (error: Error & { code?: string }) => {
  if (error.code === '57P01') return;
  console.error(error);
  process.exit(1);
});

const event = (type = 'SampleRegistered'): NewEvent => ({
  type,
  data: { sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-01-02', storageLocation: 'freezer-1-rowA' },
  metadata: {
    eventId: randomUUID(),
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    actorId: randomUUID(),
    actorType: 'user',
    requestId: randomUUID(),
    correlationId: null,
    causationId: null,
    traceparent: null,
  },
});

/** Runs `work(worker, iteration)` on CONCURRENCY workers for SECONDS; returns operations per second. */
async function measure(label: string, work: (worker: number, iteration: number) => Promise<void>): Promise<number> {
  const deadline = Date.now() + SECONDS * 1000;
  const started = Date.now();
  let count = 0;
  const progress = new Progress(label, SECONDS);
  const ticker = setInterval(() => progress.update(Math.round((Date.now() - started) / 1000)), 250);
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      for (let i = 0; Date.now() < deadline; i++) {
        await work(worker, i);
        count += 1;
      }
    }),
  );
  clearInterval(ticker);
  progress.done();
  return count / ((Date.now() - started) / 1000);
}

/** Each worker owns its streams and appends with the exact expected revision, as a command handler would. */
function streamPlan(prefix: string) {
  const revisions = new Map<string, number>();
  const streamOf = (worker: number, i: number) =>
    `${prefix}-${worker + CONCURRENCY * (i % Math.floor(STREAMS / CONCURRENCY))}`;
  return { revisions, streamOf };
}

async function benchOurs(): Promise<number> {
  const db = await scratchDatabase('ours');
  const knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  await knex.destroy();
  const store = openPostgresEventStore({ url: db.url, poolMax: CONCURRENCY });
  const { revisions, streamOf } = streamPlan('sample');
  try {
    return await measure('vialog appends', async (worker, i) => {
      const stream = streamOf(worker, i);
      const r = await store.append(stream, [event()], { expectedRevision: revisions.get(stream) ?? 'no_stream' });
      revisions.set(stream, r.nextExpectedRevision);
    });
  } finally {
    await store.close();
    await db.drop();
  }
}

async function benchRawInsert(): Promise<number> {
  const db = await scratchDatabase('raw');
  const pool = new pg.Pool({ connectionString: db.url, max: CONCURRENCY });
  await pool.query(`CREATE TABLE raw_events (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL, revision integer NOT NULL,
    event_id uuid NOT NULL UNIQUE, type text NOT NULL, schema_version integer NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, revision))`);
  const { revisions, streamOf } = streamPlan('raw');
  try {
    return await measure('raw INSERT', async (worker, i) => {
      const stream = streamOf(worker, i);
      const revision = (revisions.get(stream) ?? -1) + 1;
      const e = event();
      await pool.query({
        name: 'raw_insert',
        text: 'INSERT INTO raw_events (stream_id, revision, event_id, type, schema_version, data, metadata) VALUES ($1, $2, $3, $4, 1, $5, $6)',
        values: [stream, revision, e.metadata.eventId, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)],
      });
      revisions.set(stream, revision);
    });
  } finally {
    await pool.end();
    await db.drop();
  }
}

// Emmett (its dumbo layer) replaces pg's global type parsers (jsonb through its own serializer,
// int8 as BigInt): in this process that would slow and change every later phase, so it runs in a
// child process of its own and reports its figure as JSON.
async function benchEmmettInChild(): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_EMMETT_CHILD: '1' },
    maxBuffer: 1 << 20,
  });
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { emmett: number }).emmett;
}

async function benchEmmett(): Promise<number> {
  const { getPostgreSQLEventStore } = await import('@event-driven-io/emmett-postgresql');
  const db = await scratchDatabase('emmett');
  const store = getPostgreSQLEventStore(db.url);
  const { streamOf } = streamPlan('emmett');
  const revisions = new Map<string, bigint>();
  try {
    await store.appendToStream('warm-up', [{ type: 'WarmUp', data: {} }]); // creates Emmett's schema outside the timing
    return await measure('Emmett appends', async (worker, i) => {
      const stream = streamOf(worker, i);
      const e = event();
      const expected = revisions.get(stream);
      const r = await store.appendToStream(
        stream,
        [{ type: e.type, data: e.data }],
        expected === undefined ? {} : { expectedStreamVersion: expected },
      );
      revisions.set(stream, r.nextExpectedStreamVersion);
    });
  } finally {
    await store.close();
    await db.drop();
  }
}

async function benchCatchUp(): Promise<number> {
  const db = await scratchDatabase('catchup');
  const knex = createKnex({ url: db.url, poolMax: 8 });
  await migrateToLatest(knex);
  const store = openPostgresEventStore({ url: db.url, poolMax: 8 });
  try {
    const progress = new Progress('seeding events', CATCH_UP_EVENTS);
    let written = 0;
    let last;
    while (written < CATCH_UP_EVENTS) {
      const batch = Array.from({ length: Math.min(500, CATCH_UP_EVENTS - written) }, (_, k) =>
        event(k % 4 === 0 ? 'SampleMoved' : 'SampleRegistered'),
      );
      last = await store.append(`seed-${written}`, batch, { expectedRevision: 'no_stream' });
      written += batch.length;
      progress.update(written);
    }
    progress.done();
    if (!last) throw new Error('nothing seeded');
    // A catch-up reads a log written long ago: vacuumed, hint bits set, nothing left to flush. Without
    // this the figure measures PostgreSQL settling the seeding (and the append phases' checkpoint).
    await knex.raw('VACUUM (ANALYZE) events');
    await knex.raw('CHECKPOINT');
    const head = last.position;
    // A trivial read model: events per type, one upsert per type per batch.
    const counting: Projection = {
      name: 'bench_counts',
      version: 1,
      eventTypes: ['SampleRegistered', 'SampleMoved'],
      tables: {
        bench_counts: (t) =>
          `CREATE TABLE "${t}" (type text CONSTRAINT "${t}_pkey" PRIMARY KEY, events bigint NOT NULL)`,
      },
      async apply(events, { trx, table }) {
        const byType = new Map<string, number>();
        for (const e of events) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
        for (const [type, n] of byType) {
          await trx.raw(
            `INSERT INTO "${table('bench_counts')}" AS c (type, events) VALUES (?, ?) ON CONFLICT (type) DO UPDATE SET events = c.events + EXCLUDED.events`,
            [type, n],
          );
        }
      },
    };
    const engine = new ProjectionEngine({
      projections: [counting],
      store,
      knex,
      databaseUrl: db.url,
      batchSize: Number(process.env.BENCH_BATCH ?? 1000),
      pollIntervalMs: 100,
    });
    const started = Date.now();
    engine.start();
    const reached = await engine.waitForProjections(['bench_counts'], head, { timeoutMs: 600_000 });
    const seconds = (Date.now() - started) / 1000;
    await engine.stop();
    if (!reached) throw new Error('catch-up did not finish');
    const [row] = await knex('bench_counts').sum<{ sum: string }[]>('events as sum');
    if (Number(row?.sum) !== CATCH_UP_EVENTS) throw new Error(`catch-up counted ${row?.sum} of ${CATCH_UP_EVENTS}`);
    return CATCH_UP_EVENTS / seconds;
  } finally {
    await store.close();
    await knex.destroy();
    await db.drop();
  }
}

// BENCH_PHASES=catchup (comma-separated: appends,raw,emmett,catchup) runs a subset while tuning.
if (process.env.BENCH_EMMETT_CHILD === '1') {
  process.stdout.write(`${JSON.stringify({ emmett: await benchEmmett() })}\n`);
  process.exit(0);
}
const phases = new Set((process.env.BENCH_PHASES ?? 'appends,raw,emmett,catchup').split(','));
const ours = phases.has('appends') ? await benchOurs() : Number.NaN;
const raw = phases.has('raw') ? await benchRawInsert() : Number.NaN;
const emmett = phases.has('emmett') ? await benchEmmettInChild() : Number.NaN;
const catchUp = phases.has('catchup') ? await benchCatchUp() : Number.NaN;

const rows = [
  {
    figure: 'appends/s (vialog postgres adapter)',
    value: ours,
    baseline: 'raw INSERT',
    ratio: ours / raw,
    target: 0.6,
  },
  { figure: 'appends/s vs Emmett', value: ours, baseline: 'Emmett', ratio: ours / emmett, target: 2 },
  { figure: 'raw single-row INSERT tx/s', value: raw, baseline: '', ratio: Number.NaN, target: Number.NaN },
  { figure: 'Emmett appends/s', value: emmett, baseline: '', ratio: Number.NaN, target: Number.NaN },
  {
    figure: 'catch-up events/s (trivial projection)',
    value: catchUp,
    baseline: '50,000/s',
    ratio: catchUp / 50_000,
    target: 1,
  },
];
console.log(
  `\nevent store benchmark: ${CONCURRENCY} clients, ${STREAMS} streams, ${SECONDS} s per append phase, ${CATCH_UP_EVENTS} events caught up\n`,
);
console.table(
  rows.map((r) => ({
    figure: r.figure,
    value: Math.round(r.value),
    baseline: r.baseline,
    ratio: Number.isNaN(r.ratio) ? '' : r.ratio.toFixed(2),
    target: Number.isNaN(r.target) ? '' : `≥ ${r.target}`,
    result: Number.isNaN(r.target) ? '' : r.ratio >= r.target ? 'pass' : 'FAIL',
  })),
);
const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `eventstore-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      concurrency: CONCURRENCY,
      streams: STREAMS,
      seconds: SECONDS,
      catchUpEvents: CATCH_UP_EVENTS,
      rows,
    },
    null,
    2,
  ),
);
console.log(`results saved to ${path.relative(process.cwd(), file)}`);
