// The projection engine against real PostgreSQL: catch-up and live, crash safety, idempotence,
// zero-downtime rebuild, leadership, read-your-writes, version bumps.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import { START, comparePositions, type Position } from '../../platform/eventstore/port.ts';
import { openPostgresEventStore, type PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { ProjectionEngine, type Projection } from '../../projections/engine/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { countingProjection } from '../support/counting-projection.ts';
import { newEvent } from './eventstore-contract.ts';

interface Fixture {
  db: TestDatabase;
  knex: Knex;
  store: PostgresEventStore;
  engines: ProjectionEngine[];
  engine(projection?: Projection, batchSize?: number): ProjectionEngine;
}

async function fixture(): Promise<Fixture> {
  const db = await createTestDatabase();
  const knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  const store = openPostgresEventStore({ url: db.url, pollIntervalMs: 100 });
  const engines: ProjectionEngine[] = [];
  return {
    db,
    knex,
    store,
    engines,
    engine(projection = countingProjection(), batchSize = 100) {
      const e = new ProjectionEngine({ projections: [projection], store, knex, databaseUrl: db.url, batchSize, pollIntervalMs: 100 });
      engines.push(e);
      return e;
    },
  };
}

async function teardown(f: Fixture): Promise<void> {
  await Promise.all(f.engines.map((e) => e.stop()));
  await f.store.close();
  await f.knex.destroy();
  await f.db.drop();
}

/**
 * Appends `perStream` Counted events (plus some noise) to each of `streams` streams; returns the
 * highest position written. (Not headPosition(): a transaction open anywhere on the cluster may
 * keep the visible head behind what has just been committed.)
 */
async function appendCounted(store: PostgresEventStore, prefix: string, streams: number, perStream: number): Promise<{ position: Position }> {
  let last: Position = START;
  for (let round = 0; round < perStream; round++) {
    await Promise.all(
      Array.from({ length: streams }, async (_, s) => {
        const events = [newEvent('Counted', { round }), ...(round % 3 === 0 ? [newEvent('Ignored')] : [])];
        const { position } = await store.append(`${prefix}-${s}`, events, { expectedRevision: 'any' });
        if (comparePositions(position, last) > 0) last = position;
      }),
    );
  }
  return { position: last };
}

async function counts(knex: Knex, table = 'test_counts'): Promise<Record<string, number>> {
  const rows: { stream_id: string; events: number }[] = await knex(table).select('stream_id', 'events').orderBy('stream_id');
  return Object.fromEntries(rows.map((r: { stream_id: string; events: number }) => [r.stream_id, r.events]));
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const expectedCounts = (prefix: string, streams: number, perStream: number): Record<string, number> =>
  Object.fromEntries(Array.from({ length: streams }, (_, s): [string, number] => [`${prefix}-${s}`, perStream]));

test('catches up in batches, then follows live events; read-your-writes waits for them', async (t) => {
  const f = await fixture();
  try {
    await appendCounted(f.store, 'catchup', 20, 30);
    const engine = f.engine(countingProjection(), 50);
    engine.start();
    const live = await appendCounted(f.store, 'live', 5, 4);
    t.true(await engine.waitFor(['test_counts'], live.position, 20_000));
    t.deepEqual(await counts(f.knex), { ...expectedCounts('catchup', 20, 30), ...expectedCounts('live', 5, 4) });
    const [status] = await engine.status();
    t.is(status?.lagEvents, 0);
    t.is(status?.eventsApplied, 20 * 30 + 5 * 4);
    t.true(status?.status === 'running' || status?.status === 'catching_up');
  } finally {
    await teardown(f);
  }
});

test('read-your-writes gives up after its timeout when no runner is going', async (t) => {
  const f = await fixture();
  try {
    const engine = f.engine();
    const appended = await appendCounted(f.store, 'nobody', 1, 1);
    const started = Date.now();
    t.false(await engine.waitFor(['test_counts'], appended.position, 300));
    t.true(Date.now() - started < 2_000);
  } finally {
    await teardown(f);
  }
});

test('kill -9 of the projector mid-stream, then a restart: nothing lost, nothing doubled', async (t) => {
  const f = await fixture();
  try {
    const appended = await appendCounted(f.store, 'crash', 40, 50);
    const worker = spawn(process.execPath, [fileURLToPath(new URL('../support/projection-worker.ts', import.meta.url)), f.db.url, '10'], { stdio: 'ignore' });
    const midway = await eventually(async () => {
      const row = await f.knex('projection_checkpoints').where({ name: 'test_counts' }).first<{ events_applied: string } | undefined>();
      return Number(row?.events_applied ?? 0) > 200;
    });
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    t.true(midway, 'worker applied some batches before the kill');
    const applied = Number((await f.knex('projection_checkpoints').where({ name: 'test_counts' }).first<{ events_applied: string }>())?.events_applied);
    t.true(applied < 2000, `killed mid-stream (${applied} of 2000 applied)`);
    const engine = f.engine(countingProjection(), 100);
    engine.start();
    t.true(await engine.waitFor(['test_counts'], appended.position, 20_000));
    t.deepEqual(await counts(f.knex), expectedCounts('crash', 40, 50));
  } finally {
    await teardown(f);
  }
});

test('applying an event twice gives the same rows', async (t) => {
  const f = await fixture();
  try {
    const engine = f.engine();
    engine.start();
    const last = await appendCounted(f.store, 'twice', 3, 5);
    t.true(await engine.waitFor(['test_counts'], last.position, 20_000));
    const before = await f.knex('test_counts').select('*').orderBy('stream_id');
    const events = await f.store.readAll({ maxCount: 1000, eventTypes: ['Counted'] });
    const projection = countingProjection();
    await f.knex.transaction((trx) => projection.apply(events, { trx, table: (n) => n }));
    await f.knex.transaction((trx) => projection.apply(events.slice(3, 9), { trx, table: (n) => n }));
    t.deepEqual(await f.knex('test_counts').select('*').orderBy('stream_id'), before);
  } finally {
    await teardown(f);
  }
});

test('rebuild under concurrent reads and writes: no read fails or sees an empty table, result equals a fresh replay', async (t) => {
  const f = await fixture();
  try {
    const initial = await appendCounted(f.store, 'rebuild', 50, 40);
    const engine = f.engine(countingProjection(), 100);
    engine.start();
    t.true(await engine.waitFor(['test_counts'], initial.position, 20_000));
    let reading = true;
    let reads = 0;
    const readProblems: string[] = [];
    const reader = (async () => {
      while (reading) {
        try {
          const [row] = await f.knex('test_counts').count<{ count: string }[]>('* as count');
          if (Number(row?.count) === 0) readProblems.push('empty table seen');
          reads += 1;
        } catch (error) {
          readProblems.push(String(error));
        }
      }
    })();
    const writer = appendCounted(f.store, 'during', 5, 20);
    t.true(await engine.rebuild('test_counts', 60_000));
    const lastWrite = await writer;
    reading = false;
    await reader;
    t.deepEqual(readProblems, []);
    t.true(reads > 10, `reads kept going during the rebuild (${reads})`);
    t.true(await engine.waitFor(['test_counts'], lastWrite.position, 20_000));
    t.deepEqual(await counts(f.knex), { ...expectedCounts('during', 5, 20), ...expectedCounts('rebuild', 50, 40) });
    const [status] = await engine.status();
    t.is(status?.eventsApplied, 50 * 40 + 5 * 20);
    t.false(status?.rebuildRequested);
  } finally {
    await teardown(f);
  }
});

test('one runner per projection: the second waits, then takes over when the first stops', async (t) => {
  const f = await fixture();
  try {
    const first = f.engine();
    const second = f.engine();
    first.start();
    await appendCounted(f.store, 'lead', 2, 2);
    await new Promise((r) => setTimeout(r, 300));
    second.start();
    const one = await appendCounted(f.store, 'lead2', 2, 2);
    t.true(await first.waitFor(['test_counts'], one.position, 10_000));
    await first.stop();
    const two = await appendCounted(f.store, 'lead3', 2, 3);
    t.true(await second.waitFor(['test_counts'], two.position, 15_000), 'the standby took over');
    t.deepEqual(await counts(f.knex), { ...expectedCounts('lead', 2, 2), ...expectedCounts('lead2', 2, 2), ...expectedCounts('lead3', 2, 3) });
  } finally {
    await teardown(f);
  }
});

test('a new projection version rebuilds the read model at start-up', async (t) => {
  const f = await fixture();
  try {
    const v1 = f.engine(countingProjection({ version: 1, weight: 1 }));
    v1.start();
    const last = await appendCounted(f.store, 'version', 3, 4);
    t.true(await v1.waitFor(['test_counts'], last.position, 10_000));
    await v1.stop();
    const v2 = f.engine(countingProjection({ version: 2, weight: 10 }));
    v2.start();
    t.true(await eventually(async () => {
      const row = await f.knex('projection_checkpoints').where({ name: 'test_counts' }).first<{ version: number }>();
      return row?.version === 2;
    }));
    t.true(await v2.waitFor(['test_counts'], last.position, 10_000));
    const weights = await f.knex('test_counts').select('weighted').orderBy('stream_id');
    t.deepEqual(weights.map((r: { weighted: number }) => r.weighted), [40, 40, 40]);
  } finally {
    await teardown(f);
  }
});
