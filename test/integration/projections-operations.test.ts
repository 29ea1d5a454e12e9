// Projection operations that must neither stall the log's readers nor mislead: a rebuild builds
// its indexes without holding a transaction id, its tables are its leader's alone, its swap gives
// way to a long reader instead of queueing every reader behind it; a dead lock connection ends the
// leadership; the consistency check cannot be fooled by a swap; a missing table is rebuilt, not a
// reason to empty the others; read-your-writes never hangs on a busy pool or a frozen read model.
// Serial: each test runs an engine with its own pools, and the test server has few connections to spare.
import test from 'ava';
import net from 'node:net';
import pg from 'pg';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import { START, comparePositions, type Position } from '../../platform/eventstore/port.ts';
import { checkProjection } from '../../projections/engine/consistency.ts';
import { readCheckpoint, rowPosition } from '../../projections/engine/checkpoints.ts';
import { SkippedEvents } from '../../projections/engine/operations.ts';
import { ProjectionProgress } from '../../projections/engine/read-your-writes.ts';
import { CheckpointMovedError, rebuildProjection } from '../../projections/engine/rebuild.ts';
import { SharedReads } from '../../projections/engine/shared-reads.ts';
import type { Projection } from '../../projections/engine/index.ts';
import {
  allRows,
  appendCounted,
  countingProjection,
  eventually,
  expectCounted,
  projectedThenStopped,
  startCaughtUp,
  fixture,
  withFixture,
} from './projections-fixtures.ts';

test.serial(
  'a rebuild builds its deferred indexes without holding a transaction id (which would hold back every reader of the log)',
  withFixture(async (t, f) => {
    // An index whose build takes a while (an expression that sleeps per row).
    await f.knex.raw(
      `CREATE FUNCTION slow_key(text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN $1; END $$`,
    );
    const counting = countingProjection();
    const indexed: Projection = {
      ...counting,
      tables: {
        test_counts: (table) =>
          `${counting.tables.test_counts!(table)};\nCREATE INDEX "${table}_slow" ON "${table}" (slow_key(stream_id))`,
      },
    };
    const last = await appendCounted(f.store, 'slow', 30, 1);
    const engine = f.engine(indexed);
    engine.start();
    t.true(await engine.waitForProjections(['test_counts'], last.position, { timeoutMs: 60_000 }));
    const rebuilt = engine.rebuild('test_counts', { timeoutMs: 120_000 });
    // Sampled while the build runs: a concurrent build takes an xid only for its short catalog steps.
    let samples = 0;
    let withXid = 0;
    for (;;) {
      const rows = await f.knex.raw<{ rows: { backend_xid: string | null }[] }>(
        `SELECT backend_xid::text FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'CREATE INDEX%\\_slow%' AND state = 'active'`,
      );
      if (rows.rows.length > 0) {
        samples += 1;
        if (rows.rows.some((r) => r.backend_xid !== null)) withXid += 1;
      }
      if (await Promise.race([rebuilt.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))])) break;
    }
    await rebuilt;
    t.true(samples >= 5, `the index build was watched (${samples} samples)`);
    t.true(
      withXid <= samples / 3,
      `the index build holds no transaction id while it builds (${withXid} of ${samples} samples did)`,
    );
  }),
);

/** A TCP proxy to PostgreSQL that can go silent (keeps every socket open, forwards nothing). */
async function silentableProxy(targetPort: number) {
  const pairs: { client: net.Socket; upstream: net.Socket }[] = [];
  let silent = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    pairs.push({ client, upstream });
    const forward = (from: net.Socket, to: net.Socket) => from.on('data', (chunk) => void (!silent && to.write(chunk)));
    forward(client, upstream);
    forward(upstream, client);
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    goSilent: () => void (silent = true),
    /** What the server's keepalives would do in the end: its side of the dead connections goes. */
    dropServerSide: () => pairs.forEach((p) => p.upstream.destroy()),
    close: () => (
      pairs.forEach((p) => (p.client.destroy(), p.upstream.destroy())),
      new Promise((resolve) => server.close(resolve))
    ),
  };
}

test.serial(
  'a lock connection that goes silent ends the leadership (heartbeat); a standby takes over once the server drops the session',
  async (t) => {
    const f = await fixture();
    const target = new URL(f.db.url);
    const proxy = await silentableProxy(Number(target.port || 5432));
    try {
      const viaProxy = new URL(f.db.url);
      viaProxy.port = String(proxy.port);
      const first = f.engine(countingProjection(), { databaseUrl: viaProxy.toString(), heartbeatMs: 300 });
      first.start();
      t.true(await eventually(() => first.leading().length === 1));
      proxy.goSilent();
      t.true(
        await eventually(() => first.leading().length === 0, 15_000),
        'leadership given up while the lock may be gone',
      );
      proxy.dropServerSide();
      const second = f.engine();
      second.start();
      const written = await appendCounted(f.store, 'after', 2, 2);
      t.true(await second.waitForProjections(['test_counts'], written.position, { timeoutMs: 30_000 }));
      t.deepEqual(second.leading(), ['test_counts']);
      t.deepEqual(first.leading(), [], 'never two leaders');
    } finally {
      await f.teardown();
      await proxy.close();
    }
  },
);

test.serial(
  "two leaders' rebuilds never share tables: each fills its own copies, and the read model ends whole",
  withFixture(async (t, f) => {
    await projectedThenStopped(f, ['split', 10, 10]);
    const live = rowPosition(await readCheckpoint(f.knex, 'test_counts'));
    // As two processes that both believe they lead would run them (the live runners paused alike).
    let gate!: () => void;
    const opened = new Promise<void>((resolve) => (gate = resolve));
    const slow = countingProjection({
      beforeApply: () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5),
    });
    const rebuild = (token: string, first: boolean) =>
      rebuildProjection({
        knex: f.knex,
        store: f.store,
        projection: slow,
        batchSize: 7,
        signal: new AbortController().signal,
        sharedReads: new SharedReads(f.store, { pageSize: 7, joinWindowMs: 0 }),
        token,
        skipped: SkippedEvents.none,
        withLivePaused: async (work) => {
          if (first) {
            // Both have filled their copies by now: two tables, not one shared.
            bothCopies = await eventually(async () => (await copies()).length === 2, 10_000);
            gate();
          } else await opened;
          await work(live);
        },
      });
    let bothCopies = false;
    const copies = async () =>
      (
        await f.knex.raw<{ rows: { tablename: string }[] }>(
          `SELECT tablename FROM pg_tables WHERE tablename LIKE 'test\\_counts\\_\\_next%'`,
        )
      ).rows.map((r) => r.tablename);
    const outcomes = await Promise.allSettled([rebuild('aaaaaa', true), rebuild('bbbbbb', false)]);
    t.true(bothCopies, 'each leader filled its own copies');
    // One after the other they swap (each copy is whole), or the second finds the checkpoint moved.
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') t.true(outcome.reason instanceof CheckpointMovedError, String(outcome.reason));
    }
    t.true(outcomes.some((o) => o.status === 'fulfilled'));
    await expectCounted(t, f.knex, ['split', 10, 10]);
    t.deepEqual(await copies(), []);
  }),
);

test.serial(
  'a swap gives way to a long reader (lock_timeout) instead of queueing every other reader behind it, and completes after',
  async (t) => {
    const f = await fixture();
    const reader = new pg.Client({ connectionString: f.db.url });
    try {
      const engine = f.engine(countingProjection(), { swapLockTimeoutMs: 200 });
      await startCaughtUp(engine, f.store, 'swap', 5, 4);
      const longReader = await f.knex.transaction();
      await longReader.raw('SELECT count(*) FROM test_counts'); // holds ACCESS SHARE until it ends
      const rebuilt = engine.rebuild('test_counts', { timeoutMs: 60_000 });
      await reader.connect();
      await reader.query(`SET statement_timeout = 1500`);
      const started = Date.now();
      const problems: string[] = [];
      while (Date.now() - started < 4_000) {
        await reader.query('SELECT count(*) FROM test_counts').catch((error: unknown) => problems.push(String(error)));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      t.deepEqual(problems, [], 'other readers never waited behind the swap for long');
      t.like((await engine.status())[0], { rebuildRequested: true }, 'the swap is still waiting for the long reader');
      await longReader.commit();
      await rebuilt;
      await expectCounted(t, f.knex, ['swap', 5, 4]);
    } finally {
      await reader.end().catch(() => undefined);
      await f.teardown();
    }
  },
);

test.serial(
  'the consistency check compares inside a snapshot no swap can change: the live tables are locked before the checkpoint is read',
  withFixture(async (t, f) => {
    await projectedThenStopped(f, ['check', 4, 3]);
    let swapBlocked = false;
    const report = await checkProjection(f.knex, f.store, countingProjection(), {
      inSnapshot: async () => {
        // A rebuild's swap (drop the live table, rename the copy into place) tried right now must wait.
        const other = createKnex({ url: f.db.url, poolMax: 1 });
        try {
          await other.transaction(async (trx) => {
            await trx.raw('SET LOCAL lock_timeout = 300');
            await trx.raw('CREATE TABLE test_counts__swapped (LIKE test_counts)');
            await trx.raw('DROP TABLE test_counts');
            await trx.raw('ALTER TABLE test_counts__swapped RENAME TO test_counts');
          });
        } catch (error) {
          swapBlocked = (error as { code?: string }).code === '55P03';
        } finally {
          await other.destroy();
        }
      },
    });
    t.true(swapBlocked, 'the swap could not take the table from under the comparison');
    t.true(report.consistent);
    await expectCounted(t, f.knex, ['check', 4, 3]);
  }),
);

test.serial(
  "one missing table is rebuilt; the projection's other tables keep serving their rows meanwhile",
  withFixture(async (t, f) => {
    const counting = countingProjection();
    const twoTables: Projection = {
      ...counting,
      tables: {
        ...counting.tables,
        test_counts_mirror: (table) =>
          `CREATE TABLE "${table}" (stream_id text CONSTRAINT "${table}_pkey" PRIMARY KEY)`,
      },
      async apply(events, ctx) {
        await counting.apply(events, ctx);
        for (const e of events) {
          await ctx.trx.raw(`INSERT INTO "${ctx.table('test_counts_mirror')}" VALUES (?) ON CONFLICT DO NOTHING`, [
            e.streamId,
          ]);
        }
      },
    };
    await projectedThenStopped(f, ['two', 6, 3], twoTables);
    const before = await allRows(f.knex);
    await f.knex.raw('DROP TABLE test_counts_mirror');
    const restarted = f.engine(twoTables);
    const seen: number[] = [];
    let reading = true;
    const reads = (async () => {
      while (reading) {
        const [row] = await f.knex('test_counts').count<{ count: string }[]>('* as count');
        seen.push(Number(row?.count ?? 0));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    restarted.start();
    t.true(
      await eventually(
        async () =>
          (await f.knex.raw<{ rows: { r: string | null }[] }>(`SELECT to_regclass('test_counts_mirror')::text AS r`))
            .rows[0]?.r !== null,
      ),
    );
    t.true(await eventually(async () => (await restarted.status())[0]?.status === 'running'));
    reading = false;
    await reads;
    t.true(
      seen.length > 0 && seen.every((count) => count === 6),
      `the other table never lost its rows (${[...new Set(seen)].join(', ')})`,
    );
    t.deepEqual(await allRows(f.knex), before);
    t.is((await f.knex('test_counts_mirror').count<{ count: string }[]>('* as count'))[0]?.count, '6');
  }),
);

test.serial('read-your-writes: bounded even when the first look at the database cannot get a connection', async (t) => {
  const f = await fixture();
  const knex: Knex = createKnex({ url: f.db.url, poolMax: 1 });
  try {
    const busy = await knex.transaction(); // the pool's only connection
    const progress = new ProjectionProgress(knex);
    const started = Date.now();
    const position: Position = { commit: 1n, prepare: 1n };
    t.false(await progress.waitFor(['test_counts'], position, { timeoutMs: 300 }));
    t.true(Date.now() - started < 3_000, `bounded (${Date.now() - started} ms)`);
    progress.close();
    await busy.rollback();
  } finally {
    await knex.destroy();
    await f.teardown();
  }
});

test.serial(
  'read-your-writes: a projection rebuilding for a new version is not waited for; the answer says so at once',
  withFixture(async (t, f) => {
    const v1 = f.engine(countingProjection({ version: 1 }));
    v1.start();
    const last = await appendCounted(f.store, 'version', 10, 10);
    t.true(await v1.waitForProjections(['test_counts'], last.position, { timeoutMs: 30_000 }));
    await v1.stop();
    // The new version's rebuild is slow; the live tables stand still until it swaps.
    const v2 = f.engine(
      countingProjection({
        version: 2,
        beforeApply: () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300),
      }),
      { batchSize: 10 },
    );
    v2.start();
    t.true(await eventually(async () => (await v2.status())[0]?.status === 'rebuilding'));
    const next = await appendCounted(f.store, 'meanwhile', 1, 1);
    const started = Date.now();
    const outcome = await v2.awaitProjections(['test_counts'], next.position, { timeoutMs: 30_000 });
    t.deepEqual(outcome, { reached: false, reason: 'rebuilding', projections: ['test_counts'] });
    t.true(Date.now() - started < 10_000, `at once (${Date.now() - started} ms)`);
    t.true(comparePositions(rowPosition(await readCheckpoint(f.knex, 'test_counts')), START) > 0);
  }),
);
