// The projection engine against real PostgreSQL: catch-up in batches then live, read-your-writes,
// idempotence, failing batches, one leader per projection.
import test from 'ava';
import { START } from '../../platform/eventstore/port.ts';
import { advanceCheckpoint, readCheckpoint, rowPosition } from '../../projections/engine/checkpoints.ts';
import {
  allRows,
  appendCounted,
  countingProjection,
  counts,
  eventsApplied,
  eventually,
  expectCounted,
  projectedThenStopped,
  expectedCounts,
  withFixture,
} from './projections-fixtures.ts';

test(
  'catches up in batches, then applies live events one commit at a time',
  withFixture(async (t, f) => {
    await appendCounted(f.store, 'catchup', 20, 30);
    const batchSizes: number[] = [];
    const engine = f.engine(countingProjection({ beforeApply: (events) => batchSizes.push(events.length) }), {
      batchSize: 50,
    });
    engine.start();
    t.true(await eventually(async () => (await eventsApplied(f.knex)) === 600));
    t.true(batchSizes.length >= 12 && batchSizes.length < 40, `600 events in few batches (${batchSizes.length})`);
    t.is(Math.max(...batchSizes), 50);
    const catchUpBatches = batchSizes.length;
    for (let i = 0; i < 5; i++) {
      const live = await appendCounted(f.store, `live-${i}`, 1, 1);
      t.true(await engine.waitForProjections(['test_counts'], live.position, { timeoutMs: 10_000 }));
    }
    t.deepEqual(
      batchSizes.slice(catchUpBatches),
      [1, 1, 1, 1, 1],
      'live events are applied as they come, not held for a batch',
    );
    t.deepEqual(await counts(f.knex), {
      ...expectedCounts('catchup', 20, 30),
      ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`live-${i}-0`, 1])),
    });
    const [status] = await engine.status();
    t.like(status, {
      name: 'test_counts',
      version: 1,
      codeVersion: 1,
      status: 'running',
      lagEvents: 0,
      lagSeconds: 0,
      eventsApplied: 605,
      hasLeader: true,
      lastError: null,
    });
  }),
);

test(
  'read-your-writes resolves after the apply, also across processes; returns false on timeout when the projection is stopped',
  withFixture(async (t, f) => {
    const runner = f.engine();
    const bystander = f.engine(); // never started: sees progress only through the checkpoint table
    runner.start();
    const first = await appendCounted(f.store, 'ryw', 2, 1);
    t.true(await runner.waitForProjections(['test_counts'], first.position, { timeoutMs: 10_000 }));
    t.deepEqual(await counts(f.knex), expectedCounts('ryw', 2, 1), 'the rows are there when the wait resolves');
    const second = await appendCounted(f.store, 'ryw2', 1, 1);
    t.true(await bystander.waitForProjections(['test_counts'], second.position, { timeoutMs: 10_000 }));
    t.deepEqual((await counts(f.knex))['ryw2-0'], 1);

    await runner.stop();
    const unseen = await appendCounted(f.store, 'stopped', 1, 1);
    const started = Date.now();
    t.false(await runner.waitForProjections(['test_counts'], unseen.position, { timeoutMs: 300 }));
    t.false(
      await bystander.waitForProjections(['test_counts', 'no_such_projection'], first.position, { timeoutMs: 100 }),
    );
    t.true(Date.now() - started < 2_000, 'bounded');
    // Lag counts every event, the Ignored one too. (Visibility may trail under load elsewhere in the cluster.)
    t.true(await eventually(async () => (await bystander.status())[0]?.lagEvents === 2));
    const [status] = await bystander.status();
    t.like(status, { status: 'stopped', hasLeader: false, lagEvents: 2 });
    t.true(status!.lagSeconds > 0);
  }),
);

test(
  'applying an event twice gives the same rows',
  withFixture(async (t, f) => {
    await projectedThenStopped(f, ['twice', 3, 5]);
    const before = await allRows(f.knex);
    t.is(before.length, 3);
    const events = await f.store.readAll({ maxCount: 1000, eventTypes: ['Counted'] });
    const projection = countingProjection();
    await f.knex.transaction((trx) => projection.apply(events, { trx, table: (n) => n }));
    await f.knex.transaction((trx) => projection.apply(events.slice(3, 9), { trx, table: (n) => n }));
    await f.knex.transaction((trx) => projection.apply([events[4]!, events[4]!], { trx, table: (n) => n }));
    t.deepEqual(await allRows(f.knex), before);
  }),
);

test(
  'a failing event is retried with backoff (state retrying, its error class shown), and no event is skipped',
  withFixture(async (t, f) => {
    let poisoned = true;
    let attempts = 0;
    const projection = countingProjection({
      beforeApply: (events) => {
        if (poisoned && events.some((e) => e.streamId === 'bad-0')) {
          attempts += 1;
          throw new Error('read model unavailable');
        }
      },
    });
    // Many attempts allowed: this test is about the retries, not about giving up (projections-poison.test.ts).
    const engine = f.engine(projection, { batchSize: 10, maxAttempts: 1_000 });
    engine.start();
    await appendCounted(f.store, 'good', 3, 2);
    await appendCounted(f.store, 'bad', 1, 1);
    const after = await appendCounted(f.store, 'later', 3, 2);
    t.true(await eventually(() => attempts >= 3), 'retried');
    const [retrying] = await engine.status();
    t.like(retrying, { status: 'retrying', hasLeader: true, failedEvent: null });
    t.regex(
      retrying!.lastError ?? '',
      /^attempt \d+ of 1000 at event \d+\/\d+ \(Counted\) failed: Error at test\/integration\/projections-engine\.test\.ts:\d+:\d+$/,
    );
    t.true(retrying!.lagEvents > 0);
    t.is((await counts(f.knex))['later-0'], undefined, 'nothing after the failing event was applied');
    t.deepEqual(Object.keys(await counts(f.knex)).sort(), ['good-0', 'good-1', 'good-2'], 'everything before it was');
    poisoned = false;
    t.true(await engine.waitForProjections(['test_counts'], after.position, { timeoutMs: 30_000 }));
    await expectCounted(t, f.knex, ['good', 3, 2], ['bad', 1, 1], ['later', 3, 2]);
    t.true(await eventually(async () => (await engine.status())[0]?.status === 'running'));
    t.like((await engine.status())[0], { lastError: null, eventsApplied: 13 });
  }),
);

test(
  'one runner per projection: the second stands by, applies nothing, and takes over when the first stops',
  withFixture(async (t, f) => {
    let appliedByFirst = 0;
    let appliedBySecond = 0;
    const first = f.engine(countingProjection({ beforeApply: (e) => (appliedByFirst += e.length) }));
    const second = f.engine(countingProjection({ beforeApply: (e) => (appliedBySecond += e.length) }));
    first.start();
    t.true(await eventually(() => first.leading().length === 1));
    second.start();
    const one = await appendCounted(f.store, 'lead', 3, 3);
    t.true(await first.waitForProjections(['test_counts'], one.position, { timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 300)); // several standby lock attempts
    t.deepEqual(second.leading(), []);
    t.is(appliedBySecond, 0);
    t.is(appliedByFirst, 9);
    await first.stop();
    const two = await appendCounted(f.store, 'lead2', 2, 3);
    t.true(
      await second.waitForProjections(['test_counts'], two.position, { timeoutMs: 10_000 }),
      'the standby took over',
    );
    t.deepEqual(second.leading(), ['test_counts']);
    t.is(appliedBySecond, 6);
    await expectCounted(t, f.knex, ['lead', 3, 3], ['lead2', 2, 3]);
    t.is(await eventsApplied(f.knex), 15);
  }),
);

test(
  'the checkpoint is a compare-and-set: a stale runner cannot advance it (and so cannot apply its batch)',
  withFixture(async (t, f) => {
    const last = await projectedThenStopped(f, ['cas', 1, 2]);
    const moved = await f.knex.transaction((trx) =>
      advanceCheckpoint(trx, 'test_counts', START, last.position, 1, undefined),
    );
    t.false(moved);
    t.is(await eventsApplied(f.knex), 2);
    // The runner's own advance relaxes only its transaction's commit (read models are rebuilt from the log).
    const current = rowPosition(await readCheckpoint(f.knex, 'test_counts'));
    type Shown = { rows: { synchronous_commit: string }[] };
    const setting = await f.knex.transaction(async (trx) => {
      t.true(await advanceCheckpoint(trx, 'test_counts', current, current, 0, undefined, { relaxedCommit: true }));
      return (await trx.raw<Shown>('SHOW synchronous_commit')).rows[0]!.synchronous_commit;
    });
    t.is(setting, 'off');
    t.is(
      (await f.knex.raw<Shown>('SHOW synchronous_commit')).rows[0]!.synchronous_commit,
      'on',
      'only that transaction',
    );
  }),
);

test(
  'stopping the engine ends pending read-your-writes waits at once (no polling of a closing pool)',
  withFixture(async (t, f) => {
    const bystander = f.engine(); // never started: its waits poll the checkpoint table
    const unseen = await appendCounted(f.store, 'pending', 1, 1);
    const started = Date.now();
    const waiting = bystander.waitForProjections(['test_counts'], unseen.position, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await bystander.stop();
    t.false(await waiting);
    t.true(Date.now() - started < 2_000, `ended at the stop, not the 10 s timeout (${Date.now() - started} ms)`);
  }),
);
