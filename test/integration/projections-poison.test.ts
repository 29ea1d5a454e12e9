// Poison events: a projection that cannot apply an event neither retries it forever in silence nor
// skips it in silence. After maxAttempts it is failed at that event's position and type (never its
// content, in the status or the logs), the other projections keep running, read-your-writes stops
// waiting for it, and an operator resumes it after a fix or skips the event (recorded in the log).
// Serial: each test runs an engine with its own pools, and the test server has few connections to spare.
import test from 'ava';
import { formatPosition, type AppendResult } from '../../platform/eventstore/port.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { ProjectionOperationError, type Projection, type ProjectionEngine } from '../../projections/engine/index.ts';
import { checkProjection } from '../../projections/engine/consistency.ts';
import {
  appendCounted,
  countingProjection,
  eventually,
  fault,
  withFixture,
  type Fixture,
} from './projections-fixtures.ts';
import { newEvent } from './eventstore-contract.ts';
import { captureLogs } from '../support/logs.ts';

/** The personal data in the poison events: it must never show outside the log. */
const SECRET = 'Jane Doe, born 1961';

interface NotesOptions {
  /** Called with each batch before it is applied; throw to fail it. */
  readonly beforeApply?: (events: readonly { streamId: string }[]) => void;
}

/** A read model of notes whose table refuses some values: `note` containing POISON, `amount` not an integer. */
function notesProjection(options: NotesOptions = {}): Projection {
  return {
    name: 'test_notes',
    version: 1,
    eventTypes: ['Noted'],
    tables: {
      test_notes: (t) => `CREATE TABLE "${t}" (
        stream_id text CONSTRAINT "${t}_pkey" PRIMARY KEY,
        note      text NOT NULL CONSTRAINT "${t}_note_check" CHECK (note NOT LIKE '%POISON%'),
        amount    integer NOT NULL)`,
    },
    async apply(events, { trx, table }) {
      options.beforeApply?.(events);
      for (const e of events) {
        await trx.raw(
          `INSERT INTO "${table('test_notes')}" (stream_id, note, amount) VALUES (?, ?, ?) ON CONFLICT (stream_id) DO NOTHING`,
          [e.streamId, String(e.data.note), String(e.data.amount)],
        );
      }
    },
  };
}

const note = (f: Fixture, stream: string, text: string, amount = '1'): Promise<AppendResult> =>
  f.store.append(stream, [newEvent('Noted', { note: text, amount })], { expectedRevision: 'no_stream' });

async function notes(f: Fixture): Promise<string[]> {
  const rows = await f.knex('test_notes').select<{ stream_id: string }[]>('stream_id').orderBy('stream_id');
  return rows.map((r) => r.stream_id);
}

const statusOf = async (engine: ProjectionEngine, name = 'test_notes') =>
  (await engine.status()).find((s) => s.name === name);

test.serial(
  "after maxAttempts the projection is failed at the event's position and type; events before it are applied, none after; no content in status or logs",
  withFixture(async (t, f) => {
    const { lines, logger } = captureLogs();
    let poisonAttempts = 0;
    const projection = notesProjection({
      beforeApply: (events) => void (events.some((e) => e.streamId === 'n3') && (poisonAttempts += 1)),
    });
    await note(f, 'n0', 'fine');
    await note(f, 'n1', 'fine');
    await note(f, 'n2', 'fine');
    const poison = await note(f, 'n3', `POISON ${SECRET}`);
    await note(f, 'n4', 'fine');
    // All five arrive in one batch: the engine narrows it down to the one event at fault.
    const engine = f.engine(projection, { batchSize: 100, maxAttempts: 3, logger });
    engine.start();
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'failed'));
    const status = (await engine.status())[0]!;
    t.deepEqual(status.failedEvent && { ...status.failedEvent, failedAt: typeof status.failedEvent.failedAt }, {
      position: formatPosition(poison.position),
      type: 'Noted',
      attempts: 3,
      failedAt: 'string',
    });
    t.regex(
      status.lastError ?? '',
      /^event \d+\/\d+ \(Noted\) could not be applied after 3 attempts: SQLSTATE 23514 check_violation \(table "test_notes", constraint "test_notes_note_check"/,
    );
    t.deepEqual(await notes(f), ['n0', 'n1', 'n2'], 'the events before it are applied, none after');
    // It stopped trying: no attempt while it waits for an operator.
    const attemptsThen = poisonAttempts;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    t.is(poisonAttempts, attemptsThen);
    t.like((await engine.status())[0], { status: 'failed' });

    const everything = JSON.stringify(await engine.status()) + lines.join('\n');
    t.false(everything.includes('Jane'), 'no event content in the status or the logs');
    const failedLine = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => String(l.msg).startsWith('projection failed at an event'));
    t.like(failedLine, {
      level: 'error',
      projection: 'test_notes',
      position: formatPosition(poison.position),
      type: 'Noted',
      attempts: 3,
    });
  }),
);

test.serial(
  "a value quoted in the driver's message (invalid input syntax) reaches neither lastError nor the logs",
  withFixture(async (t, f) => {
    const { lines, logger } = captureLogs();
    const poison = await note(f, 'n0', 'fine', SECRET);
    const engine = f.engine(notesProjection(), { maxAttempts: 2, logger });
    engine.start();
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'failed'));
    const status = (await engine.status())[0]!;
    t.like(status.failedEvent, { position: formatPosition(poison.position), type: 'Noted', attempts: 2 });
    t.regex(status.lastError ?? '', /SQLSTATE 22P02 invalid_text_representation/);
    t.true(
      lines.some((l) => l.includes('projection event failed; retrying')),
      'each failed attempt is logged',
    );
    t.false(JSON.stringify(status).includes('Jane') || lines.join('\n').includes('Jane'));
  }),
);

test.serial(
  'the other projections keep running while one is failed; read-your-writes stops waiting for the failed one, here and elsewhere',
  withFixture(async (t, f) => {
    const engine = f.engine([notesProjection(), countingProjection()], { maxAttempts: 2 });
    const bystander = f.engine([notesProjection(), countingProjection()]); // never started: sees the checkpoint table only
    engine.start();
    const poison = await note(f, 'n0', `POISON ${SECRET}`);
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'failed'));
    const counted = await appendCounted(f.store, 'alive', 3, 4);
    t.true(
      await engine.waitForProjections(['test_counts'], counted.position, { timeoutMs: 30_000 }),
      'the other projection stays current',
    );
    t.true(await eventually(async () => (await statusOf(engine, 'test_counts'))?.lagEvents === 0));
    t.like(await statusOf(engine, 'test_counts'), { status: 'running', lagEvents: 0, failedEvent: null });

    for (const waiter of [engine, bystander]) {
      const started = Date.now();
      const outcome = await waiter.awaitProjections(['test_counts', 'test_notes'], poison.position, {
        timeoutMs: 30_000,
      });
      t.deepEqual(outcome, { reached: false, reason: 'failed', projections: ['test_notes'] });
      t.true(Date.now() - started < 10_000, `at once, not after the 30 s timeout (${Date.now() - started} ms)`);
    }
    t.deepEqual(await bystander.awaitProjections(['test_counts'], counted.position, { timeoutMs: 30_000 }), {
      reached: true,
    });
  }),
);

test.serial(
  'skip: named by position AND type, recorded in the log with actor and reason; the projection goes on after it, and rebuilds and the consistency check skip it too',
  withFixture(async (t, f) => {
    const engine = f.engine(notesProjection(), { maxAttempts: 1 });
    await t.throwsAsync(
      engine.skip('test_notes', { position: { commit: 1n, prepare: 1n }, type: 'Noted', reason: 'x' }, systemCause()),
      {
        instanceOf: ProjectionOperationError,
        message: /is not failed/,
      },
    );
    engine.start();
    await note(f, 'n0', 'fine');
    const poison = await note(f, 'n1', `POISON ${SECRET}`);
    const after = await note(f, 'n2', 'fine');
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'failed'));

    const cause = { ...systemCause(), actorId: 'admin-7', actorType: 'user' as const };
    const wrongType = engine.skip('test_notes', { position: poison.position, type: 'Counted', reason: 'typo' }, cause);
    await t.throwsAsync(wrongType, {
      instanceOf: ProjectionOperationError,
      message: /failed at \d+\/\d+ \(Noted\), not at/,
    });
    const wrongPosition = engine.skip('test_notes', { position: after.position, type: 'Noted', reason: 'typo' }, cause);
    await t.throwsAsync(wrongPosition, { instanceOf: ProjectionOperationError });
    t.deepEqual(await f.store.readStream('projection-test_notes'), [], 'a refused skip records nothing');

    await engine.skip(
      'test_notes',
      { position: poison.position, type: 'Noted', reason: 'ticket 4711: bad import' },
      cause,
    );
    const [recorded] = await f.store.readStream('projection-test_notes');
    t.like(recorded, {
      type: 'ProjectionEventSkipped',
      data: {
        projection: 'test_notes',
        position: formatPosition(poison.position),
        type: 'Noted',
        reason: 'ticket 4711: bad import',
      },
      metadata: { actorId: 'admin-7', actorType: 'user', reason: 'ticket 4711: bad import' },
    });
    // (Until its leader takes the skip up, read-your-writes still fails fast: it is failed.)
    t.true(await eventually(async () => (await notes(f)).includes('n2')), 'it goes on after the skipped event');
    t.deepEqual(await notes(f), ['n0', 'n2']);
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'running'));
    t.like((await engine.status())[0], { failedEvent: null, lastError: null });

    await engine.rebuild('test_notes', { timeoutMs: 60_000 });
    t.deepEqual(await notes(f), ['n0', 'n2'], 'a rebuild skips it too');
    t.true((await checkProjection(f.knex, f.store, notesProjection())).consistent, 'so does the consistency check');
  }),
);

test.serial(
  'resume after a fix: the failed event is applied and the projection goes on',
  withFixture(async (t, f) => {
    const bug = fault(() => new TypeError('cannot read the note'), true);
    const engine = f.engine(notesProjection({ beforeApply: bug.hook }), { maxAttempts: 2 });
    engine.start();
    const first = await note(f, 'n0', 'fine');
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'failed'));
    t.like((await engine.status())[0]!.failedEvent, { position: formatPosition(first.position), type: 'Noted' });
    t.regex(
      (await engine.status())[0]!.lastError ?? '',
      /TypeError at test\/integration\/projections-poison\.test\.ts:\d+:\d+/,
    );
    bug.on = false; // the fix is deployed
    await engine.resume('test_notes');
    await note(f, 'n1', 'fine');
    t.true(await eventually(async () => (await notes(f)).length === 2));
    t.deepEqual(await notes(f), ['n0', 'n1']);
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'running'));
    await t.throwsAsync(engine.resume('test_notes'), { instanceOf: ProjectionOperationError, message: /not failed/ });
  }),
);

test.serial(
  'a transient error (deadlock, lost connection) is retried for as long as it lasts, not counted against the event',
  withFixture(async (t, f) => {
    let transientFailures = 0;
    const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' });
    const engine = f.engine(
      notesProjection({
        beforeApply: () => {
          if (transientFailures < 5) throw (transientFailures++, deadlock());
        },
      }),
      { maxAttempts: 2, maxBackoffMs: 100 },
    );
    engine.start();
    const written = await note(f, 'n0', 'fine');
    t.true(await engine.waitForProjections(['test_notes'], written.position, { timeoutMs: 30_000 }));
    t.is(transientFailures, 5, 'more failures than maxAttempts, yet not failed');
    t.true(await eventually(async () => (await statusOf(engine))?.status === 'running'));
  }),
);

test.serial(
  'a failed projection stays failed while nobody runs it; the next leader tries the event again',
  withFixture(async (t, f) => {
    let attempts = 0;
    const failing = () =>
      notesProjection({
        beforeApply: () => {
          attempts += 1;
          throw new Error('no');
        },
      });
    const first = f.engine(failing(), { maxAttempts: 2 });
    first.start();
    await note(f, 'n0', 'fine');
    t.true(await eventually(async () => (await statusOf(first))?.status === 'failed'));
    await first.stop();
    t.like(await statusOf(first), { status: 'failed', hasLeader: false });
    const before = attempts;
    const second = f.engine(failing(), { maxAttempts: 2 });
    second.start();
    t.true(await eventually(() => attempts >= before + 2), 'tried again');
    t.true(await eventually(async () => (await statusOf(second))?.status === 'failed'));
  }),
);
