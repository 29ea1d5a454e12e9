// Zero-downtime rebuilds: into fresh tables while the old ones serve, then one swap; on request
// while the live runner runs, and automatically when the projection's version changes.
import test from 'ava';
import type { Knex } from 'knex';
import { ProjectionRebuildError, type Projection } from '../../projections/engine/index.ts';
import { readCheckpoint } from '../../projections/engine/checkpoints.ts';
import {
  allRows,
  appendCounted,
  countingProjection,
  eventually,
  expectCounted,
  fault,
  withFixture,
} from './projections-fixtures.ts';

/** Reads the live table in a loop until `stop()`; records any failure or empty result. */
function keepReading(knex: Knex) {
  let reading = true;
  let reads = 0;
  const problems: string[] = [];
  const done = (async () => {
    while (reading) {
      try {
        const [row] = await knex('test_counts').count<{ count: string }[]>('* as count');
        if (Number(row?.count) === 0) problems.push('empty table seen');
        reads += 1;
      } catch (error) {
        problems.push(String(error));
      }
    }
  })();
  return {
    async stop() {
      reading = false;
      await done;
      return { reads, problems };
    },
  };
}

test(
  'rebuild while live: reads never fail or see an empty table, live events land in the new tables, rows equal the live run',
  withFixture(async (t, f) => {
    const initial = await appendCounted(f.store, 'rebuild', 50, 40);
    const engine = f.engine(countingProjection(), { batchSize: 100 });
    engine.start();
    t.true(await engine.waitForProjections(['test_counts'], initial.position, { timeoutMs: 20_000 }));
    const reader = keepReading(f.knex);
    const writer = appendCounted(f.store, 'during', 5, 20);
    await engine.rebuild('test_counts', { timeoutMs: 60_000 });
    const lastWrite = await writer;
    const { reads, problems } = await reader.stop();
    t.deepEqual(problems, []);
    t.true(reads > 10, `reads kept going during the rebuild (${reads})`);
    t.true(await engine.waitForProjections(['test_counts'], lastWrite.position, { timeoutMs: 20_000 }));
    const afterRebuild = await allRows(f.knex);
    await expectCounted(t, f.knex, ['during', 5, 20], ['rebuild', 50, 40]);
    const [status] = await engine.status();
    t.like(status, { eventsApplied: 50 * 40 + 5 * 20, rebuildRequested: false, status: 'running' });
    const leftovers = await f.knex.raw<{ rows: unknown[] }>(
      `SELECT 1 FROM pg_tables WHERE tablename LIKE 'test_counts%next'`,
    );
    t.is(leftovers.rows.length, 0, 'no __next table left behind');

    // The same rows as a plain live run over the same log.
    await engine.stop();
    await f.knex.raw('DROP TABLE test_counts');
    await f.knex('projection_checkpoints').delete();
    const fresh = f.engine(countingProjection(), { batchSize: 100 });
    fresh.start();
    t.true(await fresh.waitForProjections(['test_counts'], lastWrite.position, { timeoutMs: 20_000 }));
    t.deepEqual(await allRows(f.knex), afterRebuild);
  }),
);

test(
  'rebuild without any runner times out with an error instead of hanging',
  withFixture(async (t, f) => {
    const engine = f.engine();
    await t.throwsAsync(engine.rebuild('test_counts', { timeoutMs: 300 }), { instanceOf: ProjectionRebuildError });
    await t.throwsAsync(engine.rebuild('nope', { timeoutMs: 300 }), { message: /unknown projection/ });
  }),
);

test(
  'a new projection version rebuilds the read model at start-up; the old tables serve until the swap',
  withFixture(async (t, f) => {
    const v1 = f.engine(countingProjection({ version: 1, weight: 1 }));
    v1.start();
    const last = await appendCounted(f.store, 'version', 3, 400);
    t.true(await v1.waitForProjections(['test_counts'], last.position, { timeoutMs: 20_000 }));
    await v1.stop();
    t.deepEqual(
      (await allRows(f.knex)).map((r) => (r as { weighted: number }).weighted),
      [400, 400, 400],
    );

    const reader = keepReading(f.knex);
    const v2 = f.engine(countingProjection({ version: 2, weight: 10 }), { batchSize: 50 });
    v2.start();
    t.true(await eventually(async () => (await v2.status())[0]?.version === 2));
    const { problems } = await reader.stop();
    t.deepEqual(problems, []);
    const more = await appendCounted(f.store, 'version', 3, 1);
    t.true(await v2.waitForProjections(['test_counts'], more.position, { timeoutMs: 60_000 }));
    t.deepEqual(
      (await allRows(f.knex)).map((r) => (r as { weighted: number }).weighted),
      [4010, 4010, 4010],
    );
    t.true(await eventually(async () => (await v2.status())[0]?.status === 'running'));
    t.like((await v2.status())[0], { version: 2, codeVersion: 2, eventsApplied: 1203, status: 'running' });
  }),
);

test(
  'a failing rebuild reports the event it failed at (no content), leaves the old tables serving and the live runner going',
  withFixture(async (t, f) => {
    const failure = fault(() => new Error('bad rebuild'));
    const engine = f.engine(countingProjection({ beforeApply: failure.hook }));
    engine.start();
    const first = await appendCounted(f.store, 'keep', 2, 3);
    t.true(await engine.waitForProjections(['test_counts'], first.position, { timeoutMs: 10_000 }));
    const before = await allRows(f.knex);
    failure.on = true; // no new events: only the rebuild applies anything now
    const failedAt =
      /event \d+\/\d+ \(Counted\) could not be applied after 1 attempt: Error at test\/integration\/projections-rebuild\.test\.ts:\d+:\d+/;
    await t.throwsAsync(engine.rebuild('test_counts', { timeoutMs: 20_000 }), {
      instanceOf: ProjectionRebuildError,
      message: failedAt,
    });
    t.deepEqual(await allRows(f.knex), before);
    const [status] = await engine.status();
    t.like(status, { status: 'running', rebuildRequested: false, failedEvent: null });
    t.regex(status!.lastError!, /^rebuild failed: /);
    t.regex(status!.lastError!, failedAt);
    t.notRegex(status!.lastError!, /bad rebuild/, "the error's message is not shown: it could quote an event");
    failure.on = false;
    const second = await appendCounted(f.store, 'after', 1, 1);
    t.true(await engine.waitForProjections(['test_counts'], second.position, { timeoutMs: 10_000 }));
    await expectCounted(t, f.knex, ['keep', 2, 3], ['after', 1, 1]);
  }),
);

test(
  'a rebuild reports how far it has read the log: progress rises to 1, and the mark is cleared after the swap',
  withFixture(async (t, f) => {
    const counting = countingProjection();
    // Slow enough batches that the rebuild is seen half-way (20 batches of 100, 60 ms each).
    const slow: Projection = {
      ...counting,
      apply: async (events, ctx) => (await new Promise((r) => setTimeout(r, 60)), counting.apply(events, ctx)),
    };
    const last = await appendCounted(f.store, 'progress', 20, 100);
    const engine = f.engine(slow, { batchSize: 100 });
    engine.start();
    t.true(await engine.waitForProjections(['test_counts'], last.position, { timeoutMs: 60_000 }));
    const seen: number[] = [];
    await engine.rebuild('test_counts', { timeoutMs: 60_000, onProgress: (fraction) => seen.push(fraction) });
    t.true(
      seen.some((fraction) => fraction > 0 && fraction < 1),
      `a value on the way: ${seen.join(', ')}`,
    );
    t.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'never goes back',
    );
    t.is(seen.at(-1), 1);
    t.is((await readCheckpoint(f.knex, 'test_counts'))?.rebuild_scanned_prepare, null);
    await expectCounted(t, f.knex, ['progress', 20, 100]);
  }),
);
