// Rebuilds that start together share one read of the log: each page is read once, every member
// gets exactly its own events in order, the buffer between the fastest and the slowest member is
// bounded, a member that leaves does not hold the others, and rebuilt tables equal the live ones.
import test from 'ava';
import type { EventStore, ReadAllOptions, RecordedEvent } from '../../platform/eventstore/port.ts';
import { ProjectionEngine, type Projection } from '../../projections/engine/index.ts';
import { SharedReads, type SharedReadMember } from '../../projections/engine/shared-reads.ts';
import {
  allRows,
  appendCounted,
  countingProjection,
  eventually,
  fixture,
  withFixture,
} from './projections-fixtures.ts';

/** The store, counting readAll calls (the reads a rebuild makes). */
function countingReads(store: EventStore): { store: EventStore; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === 'readAll') {
        return (options: ReadAllOptions) => {
          reads += 1;
          return target.readAll(options);
        };
      }
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: proxy, reads: () => reads };
}

async function drain(member: SharedReadMember): Promise<{ events: RecordedEvent[]; pages: number }> {
  const events: RecordedEvent[] = [];
  let pages = 0;
  try {
    for (;;) {
      const page = await member.next();
      pages += 1;
      events.push(...page.events);
      if (!page.more) return { events, pages };
    }
  } finally {
    member.leave();
  }
}

const ids = (events: readonly RecordedEvent[]) => events.map((e) => `${e.streamId}@${e.revision}`);

test(
  'members share each page, get only their types in global order, and wait for the slowest within the buffer',
  withFixture(async (t, f) => {
    await appendCounted(f.store, 'shared', 10, 30); // 300 Counted + 100 Ignored
    // Readers see a commit once no older transaction on the server is open (tests run in parallel).
    let everything: RecordedEvent[] = [];
    t.true(
      await eventually(async () => (everything = await f.store.readAll({ maxCount: 10_000 })).length === 400),
      'all 400 events visible',
    );
    const { store, reads } = countingReads(f.store);
    const shared = new SharedReads(store, { pageSize: 50, bufferPages: 2, joinWindowMs: 50 });
    const counted = shared.join(['Counted']);
    const all = shared.join(['Counted', 'Ignored']);
    const leaver = shared.join(['Ignored']);

    // `counted` takes nothing yet: `all` may run at most two pages ahead of it.
    const allDone = drain(all);
    t.true(await eventually(() => reads() === 2, 5_000), 'the pump read two pages');
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.is(reads(), 2, 'and no more while the slowest member has not taken page 0');

    const first = await leaver.next(); // takes one page, then leaves: nobody waits for it
    t.true(first.events.every((e) => e.type === 'Ignored'));
    leaver.leave();

    const [countedResult, allResult] = await Promise.all([drain(counted), allDone]);
    t.deepEqual(ids(allResult.events), ids(everything));
    t.deepEqual(ids(countedResult.events), ids(everything.filter((e) => e.type === 'Counted')));
    t.is(countedResult.pages, allResult.pages);
    t.is(reads(), allResult.pages, 'each page was read once for all members');

    // The join window has closed: a later rebuild starts a read of its own.
    const late = await drain(shared.join(['Ignored']));
    t.deepEqual(ids(late.events), ids(everything.filter((e) => e.type === 'Ignored')));
    t.is(reads(), allResult.pages + late.pages, 'its own read, filtered to its own types');
  }),
);

/** Events of any type per stream, in a table of its own. */
const everyEventProjection: Projection = {
  name: 'test_every',
  version: 1,
  eventTypes: ['Counted', 'Ignored'],
  tables: {
    test_every: (
      table,
    ) => `CREATE TABLE "${table}" (stream_id text CONSTRAINT "${table}_pkey" PRIMARY KEY, events integer NOT NULL, last_revision integer NOT NULL);
CREATE INDEX "${table}_by_events" ON "${table}" (events)`,
  },
  async apply(events, { trx, table }) {
    for (const event of events) {
      await trx.raw(
        `INSERT INTO "${table('test_every')}" AS t (stream_id, events, last_revision) VALUES (?, 1, ?)
         ON CONFLICT (stream_id) DO UPDATE SET events = t.events + 1, last_revision = EXCLUDED.last_revision WHERE t.last_revision < EXCLUDED.last_revision`,
        [event.streamId, event.revision],
      );
    }
  },
};

test('rebuilding two projections at once reads the log once; both rebuilt read models equal the live ones, indexes included', async (t) => {
  const f = await fixture();
  const { store, reads } = countingReads(f.store);
  const engine = new ProjectionEngine({
    projections: [countingProjection(), everyEventProjection],
    store,
    knex: f.knex,
    databaseUrl: f.db.url,
    batchSize: 50,
    pollIntervalMs: 100,
  });
  try {
    const last = await appendCounted(f.store, 'together', 10, 30);
    engine.start();
    t.true(await engine.waitForProjections(['test_counts', 'test_every'], last.position, { timeoutMs: 30_000 }));
    const before = { counts: await allRows(f.knex), every: await allRows(f.knex, 'test_every') };
    t.is(before.every.length, 10);

    const readsBefore = reads();
    await Promise.all([
      engine.rebuild('test_counts', { timeoutMs: 30_000 }),
      engine.rebuild('test_every', { timeoutMs: 30_000 }),
    ]);
    const pagesOfOnePass = Math.ceil(400 / 50) + 1;
    // One shared pass, plus at most a short read each when the live runners are paused for the swap.
    t.true(reads() - readsBefore <= pagesOfOnePass + 2, `${reads() - readsBefore} reads for ${pagesOfOnePass} pages`);
    t.deepEqual(await allRows(f.knex), before.counts);
    t.deepEqual(await allRows(f.knex, 'test_every'), before.every);
    const indexes = await f.knex.raw<{ rows: { indexname: string }[] }>(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'test_every' ORDER BY indexname`,
    );
    t.deepEqual(
      indexes.rows.map((r) => r.indexname),
      ['test_every_by_events', 'test_every_pkey'],
      'the deferred index was built and renamed with the table',
    );
  } finally {
    await engine.stop();
    await f.teardown();
  }
});
