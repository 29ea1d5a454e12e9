// Shared by the projection engine tests and their child-process worker: a small read model
// (events per stream) and a database with the event store, the engine and helpers around it.
import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import { START, comparePositions, type AppendResult, type Position } from '../../platform/eventstore/port.ts';
import { openPostgresEventStore, type PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { eventUpcasters } from '../../app/upcasters.ts';
import { ProjectionEngine, type Projection, type ProjectionEngineOptions } from '../../projections/engine/index.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { newEvent } from './eventstore-contract.ts';

export interface CountingOptions {
  readonly name?: string;
  readonly version?: number;
  /** Added to `weighted` per event: lets a test tell which code version built the rows. */
  readonly weight?: number;
  /** Called before each batch is applied (inspect batch sizes, inject failures). */
  readonly beforeApply?: (events: readonly { type: string; streamId: string }[]) => void;
}

/**
 * Events per stream. Idempotent: the upsert is guarded by the stream revision, so an event at or
 * below the stored revision (applied before) changes nothing.
 */
export function countingProjection(options: CountingOptions = {}): Projection {
  const weight = options.weight ?? 1;
  return {
    name: options.name ?? 'test_counts',
    version: options.version ?? 1,
    eventTypes: ['Counted'],
    tables: {
      test_counts: (table) => `CREATE TABLE "${table}" (
        stream_id     text CONSTRAINT "${table}_pkey" PRIMARY KEY,
        events        integer NOT NULL,
        weighted      integer NOT NULL,
        last_revision integer NOT NULL)`,
    },
    async apply(events, { trx, table }) {
      options.beforeApply?.(events);
      for (const event of events) {
        await trx.raw(
          `INSERT INTO "${table('test_counts')}" AS t (stream_id, events, weighted, last_revision) VALUES (?, 1, ?, ?)
           ON CONFLICT (stream_id) DO UPDATE
             SET events = t.events + 1, weighted = t.weighted + EXCLUDED.weighted, last_revision = EXCLUDED.last_revision
           WHERE t.last_revision < EXCLUDED.last_revision`,
          [event.streamId, weight, event.revision],
        );
      }
    },
  };
}

export interface Fixture {
  readonly db: TestDatabase;
  readonly knex: Knex;
  readonly store: PostgresEventStore;
  /** An engine for one projection, or several (not started); stopped at teardown. */
  engine(projection?: Projection | Projection[], options?: Partial<ProjectionEngineOptions>): ProjectionEngine;
  teardown(): Promise<void>;
}

/** A bug to deploy and fix: `hook`, as a beforeApply, throws a new `error()` while `on`. */
export function fault(error: () => Error, on = false) {
  const switchable = {
    on,
    hook: (): void => {
      if (switchable.on) throw error();
    },
  };
  return switchable;
}

/** A test body with a fixture of its own, torn down after it whatever happens. */
export const withFixture =
  (body: (t: ExecutionContext, f: Fixture) => Promise<void>) =>
  async (t: ExecutionContext): Promise<void> => {
    const f = await fixture();
    try {
      await body(t, f);
    } finally {
      await f.teardown();
    }
  };

export async function fixture(): Promise<Fixture> {
  const db = await createTestDatabase('vialog_projections');
  // Small pools: the test files run in parallel against one server (max_connections).
  const knex = createKnex({ url: db.url, poolMax: 5 });
  await migrateToLatest(knex);
  const store = openPostgresEventStore({ url: db.url, pollIntervalMs: 100, poolMax: 3, upcasters: eventUpcasters() });
  const engines: ProjectionEngine[] = [];
  return {
    db,
    knex,
    store,
    engine(projection = countingProjection(), options = {}) {
      const projections = Array.isArray(projection) ? projection : [projection];
      const engine = new ProjectionEngine({
        projections,
        store,
        knex,
        databaseUrl: db.url,
        batchSize: 100,
        pollIntervalMs: 100,
        maxBackoffMs: 400,
        ...options,
      });
      engines.push(engine);
      return engine;
    },
    async teardown() {
      await Promise.all(engines.map((e) => e.stop()));
      await store.close();
      await knex.destroy();
      await db.drop();
    },
  };
}

/** An engine for one read model, started, and the read-your-writes wait its module's commands take. */
export function startReadModel(f: Fixture, projection: Projection) {
  const engine = f.engine(projection);
  engine.start();
  const waitForReadModel = (position: Position) =>
    engine.waitForProjections([projection.name], position, { timeoutMs: 10_000 });
  return { engine, waitForReadModel };
}

/**
 * Every event once more, straight into the live tables, then a rebuild from the first event: the
 * rows must stay `live` after each (the projection is idempotent and rebuilds the same).
 */
export async function expectReplayAndRebuildKeep<Rows>(
  t: ExecutionContext,
  f: Fixture,
  engine: ProjectionEngine,
  projection: Projection,
  snapshot: () => Promise<Rows>,
  live: Rows,
): Promise<void> {
  const all = await f.store.readAll({ after: START, maxCount: 10_000 });
  const events = all.filter((e) => projection.eventTypes.includes(e.type));
  await f.knex.transaction((trx) => projection.apply(events, { trx, table: (name) => name }));
  t.deepEqual(await snapshot(), live, 'every event applied twice');
  await engine.rebuild(projection.name, { timeoutMs: 30_000 });
  t.deepEqual(await snapshot(), live, 'rebuilt from the first event');
}

/** Appends `perStream` Counted events (plus an Ignored one every third round) to each of `streams` streams. */
export async function appendCounted(
  store: PostgresEventStore,
  prefix: string,
  streams: number,
  perStream: number,
): Promise<AppendResult> {
  let last: AppendResult | undefined;
  for (let round = 0; round < perStream; round++) {
    await Promise.all(
      Array.from({ length: streams }, async (_, s) => {
        const events = [newEvent('Counted', { round }), ...(round % 3 === 0 ? [newEvent('Ignored')] : [])];
        const result = await store.append(`${prefix}-${s}`, events, { expectedRevision: 'any' });
        if (!last || comparePositions(result.position, last.position) > 0) last = result;
      }),
    );
  }
  if (!last) throw new Error('nothing appended');
  return last;
}

/** Starts `engine`, appends as appendCounted does and waits until the engine has applied it all: the last append. */
export async function startCaughtUp(
  engine: ProjectionEngine,
  store: PostgresEventStore,
  ...counted: [prefix: string, streams: number, perStream: number]
): Promise<AppendResult> {
  engine.start();
  const last = await appendCounted(store, ...counted);
  if (!(await engine.waitForProjections(['test_counts'], last.position, { timeoutMs: 30_000 })))
    throw new Error(`the engine did not apply ${counted[0]}-* in 30 s`);
  return last;
}

/** appendCounted's events, applied by an engine (for `projection`) that then stops: the read model current, no runner. */
export async function projectedThenStopped(
  f: Fixture,
  counted: [prefix: string, streams: number, perStream: number],
  projection?: Projection,
): Promise<AppendResult> {
  const engine = f.engine(projection);
  const last = await startCaughtUp(engine, f.store, ...counted);
  await engine.stop();
  return last;
}

export function expectedCounts(prefix: string, streams: number, perStream: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: streams }, (_, s) => [`${prefix}-${s}`, perStream]));
}

/** The live read model holds exactly these groups of appendCounted streams: [prefix, streams, perStream]. */
export async function expectCounted(
  t: ExecutionContext,
  knex: Knex,
  ...groups: [prefix: string, streams: number, perStream: number][]
): Promise<void> {
  t.deepEqual(await counts(knex), Object.assign({}, ...groups.map((g) => expectedCounts(...g))));
}

/** stream_id → events, from the live table (or another physical table). */
export async function counts(knex: Knex, table = 'test_counts'): Promise<Record<string, number>> {
  const rows = await knex(table)
    .select<{ stream_id: string; events: number }[]>('stream_id', 'events')
    .orderBy('stream_id');
  return Object.fromEntries(rows.map((r) => [r.stream_id, r.events]));
}

/** The events the live rows count, all streams together (to compare with the checkpoint's events_applied). */
export async function totalCounted(knex: Knex): Promise<number> {
  return Object.values(await counts(knex)).reduce((a, b) => a + b, 0);
}

export async function allRows(knex: Knex, table = 'test_counts'): Promise<unknown[]> {
  return knex(table).select('*').orderBy('stream_id');
}

export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

export async function eventsApplied(knex: Knex, name = 'test_counts'): Promise<number> {
  const row = await knex('projection_checkpoints').where({ name }).first<{ events_applied: string } | undefined>();
  return Number(row?.events_applied ?? 0);
}
