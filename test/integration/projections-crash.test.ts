// Crash safety of the projection engine: a projector killed with SIGKILL mid-stream, or stopped
// in the middle of catching up, loses nothing and doubles nothing when it starts again.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  appendCounted,
  countingProjection,
  eventsApplied,
  eventually,
  expectCounted,
  totalCounted,
  withFixture,
} from './projections-fixtures.ts';

const workerPath = fileURLToPath(new URL('./projections-worker.ts', import.meta.url));

test(
  'kill -9 of the projector mid-stream, then a restart: nothing lost, nothing doubled',
  withFixture(async (t, f) => {
    const last = await appendCounted(f.store, 'crash', 40, 50);
    const worker = spawn(process.execPath, [workerPath, f.db.url, '10'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((r) => worker.once('exit', r));
    try {
      t.true(await eventually(async () => (await eventsApplied(f.knex)) >= 200), 'the worker applied some batches');
    } finally {
      worker.kill('SIGKILL');
      await exited;
    }
    const applied = await eventsApplied(f.knex);
    t.true(applied < 2000, `killed mid-stream (${applied} of 2000 applied)`);
    t.is(await totalCounted(f.knex), applied, 'rows and checkpoint agree');
    // The server drops the dead worker's session (and so its lock) once it notices the closed socket.
    const observer = f.engine();
    t.true(await eventually(async () => (await observer.status())[0]?.hasLeader === false, 5_000));
    t.like((await observer.status())[0], { status: 'stopped', hasLeader: false }, 'a dead leader shows as stopped');

    const engine = f.engine(countingProjection(), { batchSize: 100 });
    engine.start();
    t.true(await engine.waitForProjections(['test_counts'], last.position, { timeoutMs: 30_000 }));
    await expectCounted(t, f.knex, ['crash', 40, 50]);
    t.is(await eventsApplied(f.knex), 2000);
  }),
);

test(
  'stop while catching up lets the current batch commit; a restart resumes exactly there',
  withFixture(async (t, f) => {
    const last = await appendCounted(f.store, 'pause', 30, 20);
    let batches = 0;
    const first = f.engine(countingProjection({ beforeApply: () => (batches += 1) }), { batchSize: 20 });
    first.start();
    t.true(await eventually(() => batches >= 3));
    await first.stop();
    const applied = await eventsApplied(f.knex);
    t.true(applied > 0 && applied < 600, `stopped mid-stream (${applied} of 600)`);
    t.is(applied % 20, 0, 'whole batches only');
    t.is(await totalCounted(f.knex), applied, 'rows and checkpoint agree');
    t.is((await first.status())[0]?.status, 'stopped');

    const second = f.engine(countingProjection(), { batchSize: 20 });
    second.start();
    t.true(await second.waitForProjections(['test_counts'], last.position, { timeoutMs: 20_000 }));
    await expectCounted(t, f.knex, ['pause', 30, 20]);
    t.is(await eventsApplied(f.knex), 600);
  }),
);
