// The one command pipeline (platform/commands/handler.ts) against the PostgreSQL event store:
// what it appends, what it waits for, how it answers a refusal, and that racing writers lose
// nothing under its one retry policy.
import test from 'ava';
import { z } from 'zod';
import { accept, DomainError, refuse, type Decision } from '../../platform/commands/decision.ts';
import { CommandHandler, type Decider, type EventCodec } from '../../platform/commands/handler.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { openPostgresEventStore, type PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { StreamConflictError, type Position } from '../../platform/eventstore/port.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

// A counter with a secret label, as small as a decider gets.
const schemas = {
  CounterOpened: z.strictObject({ label: z.string() }),
  CounterAdded: z.strictObject({ by: z.number().int() }),
  CounterRefused: z.strictObject({ by: z.number().int() }),
};
const catalog = eventCatalog(schemas);
type CounterEvent = EventsOf<typeof schemas>;
type Command = { type: 'Open'; label: string } | { type: 'Add'; by: number; expectedVersion?: number };
interface State {
  readonly opened: boolean;
  readonly total: number;
  readonly version: number;
  readonly label: string;
}

const decider: Decider<Command, State, CounterEvent> = {
  initialState: () => ({ opened: false, total: 0, version: 0, label: '' }),
  evolve: (s, e) => {
    const version = s.version + 1;
    if (e.type === 'CounterOpened') return { ...s, opened: true, label: e.data.label, version };
    if (e.type === 'CounterAdded') return { ...s, total: s.total + e.data.by, version };
    return { ...s, version };
  },
  decide: (c, s): Decision<CounterEvent> => {
    if (c.type === 'Open')
      return s.opened
        ? refuse({ code: 'conflict', message: 'already open' })
        : accept({ type: 'CounterOpened', data: { label: c.label } });
    if (!s.opened) return refuse({ code: 'not_found', message: 'no counter' });
    if (c.expectedVersion !== undefined && c.expectedVersion !== s.version) {
      return refuse({ code: 'version_mismatch', message: 'stale', currentVersion: s.version });
    }
    // A negative step is refused and recorded, as a failed login is.
    if (c.by < 0)
      return refuse({ code: 'validation_failed', message: 'only up', status: 422 }, [
        { type: 'CounterRefused', data: { by: c.by } },
      ]);
    if (c.by === 0) return accept();
    return accept({ type: 'CounterAdded', data: { by: c.by } });
  },
};

const codec: EventCodec<CounterEvent> = {
  ...catalog,
  seal: (e) => Promise.resolve(e.type === 'CounterOpened' ? { ...e, data: { label: `sealed:${e.data.label}` } } : e),
  open: (e) =>
    Promise.resolve(e.type === 'CounterOpened' ? { ...e, data: { label: e.data.label.replace(/^sealed:/, '') } } : e),
};

let db: TestDatabase;
let store: PostgresEventStore;
test.before(async () => {
  db = await createTestDatabase();
  const knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  await knex.destroy();
  store = openPostgresEventStore({ url: db.url, poolMax: 20 });
});
test.after.always(async () => {
  await store?.close();
  await db?.drop();
});

function handlerWaitingFor(waits: Position[]) {
  return new CommandHandler(
    {
      store,
      waitForReadModels: (p) => (waits.push(p), Promise.resolve(true)),
      now: () => new Date('2026-11-30T12:00:00Z'),
    },
    decider,
    codec,
  );
}

test('a decision is appended with the cause as metadata, then the read models are awaited at its position', async (t) => {
  const waits: Position[] = [];
  const handler = handlerWaitingFor(waits);
  const cause = { ...systemCause('first count'), requestId: 'req-1', correlationId: 'req-1' };
  const handled = await handler.handle('counter-a', { type: 'Open', label: 'freezer 3' }, cause);
  t.deepEqual(handled.events, [{ type: 'CounterOpened', data: { label: 'freezer 3' } }]);
  t.deepEqual(waits, [handled.position]);
  const [stored] = await store.readStream('counter-a');
  t.like(stored, { type: 'CounterOpened', data: { label: 'sealed:freezer 3' } });
  t.like(stored?.metadata, {
    schemaVersion: 1,
    requestId: 'req-1',
    reason: 'first count',
    occurredAt: '2026-11-30T12:00:00.000Z',
  });
});

test('loading folds the stream with sealed data opened', async (t) => {
  const handler = handlerWaitingFor([]);
  await handler.handle('counter-b', { type: 'Open', label: 'box 7' }, systemCause());
  await handler.handle('counter-b', { type: 'Add', by: 2 }, systemCause());
  const loaded = await handler.load('counter-b');
  t.like(loaded.state, { label: 'box 7', total: 2, version: 2 });
  t.is(loaded.expected, 1);
});

test('a refusal is thrown as a DomainError; its events, if any, are appended first', async (t) => {
  const handler = handlerWaitingFor([]);
  await handler.handle('counter-c', { type: 'Open', label: 'x' }, systemCause());
  const error = await t.throwsAsync(handler.handle('counter-c', { type: 'Add', by: -1 }, systemCause()), {
    instanceOf: DomainError,
  });
  t.like(error, { code: 'validation_failed', status: 422 });
  t.deepEqual(
    (await store.readStream('counter-c')).map((e) => e.type),
    ['CounterOpened', 'CounterRefused'],
  );
  const missing = await t.throwsAsync(handler.handle('counter-none', { type: 'Add', by: 1 }, systemCause()), {
    instanceOf: DomainError,
  });
  t.like(missing, { code: 'not_found', status: 404 });
  t.false(await store.streamExists('counter-none'));
});

test('a decision without events appends nothing and waits for nothing', async (t) => {
  const waits: Position[] = [];
  const handler = handlerWaitingFor(waits);
  await handler.handle('counter-d', { type: 'Open', label: 'x' }, systemCause());
  const handled = await handler.handle('counter-d', { type: 'Add', by: 0 }, systemCause());
  t.deepEqual(handled.events, []);
  t.is(handled.position, undefined);
  t.is(waits.length, 1);
});

test('racing writers: every update lands (each conflict is decided again on fresh state)', async (t) => {
  const handler = handlerWaitingFor([]);
  await handler.handle('counter-e', { type: 'Open', label: 'x' }, systemCause());
  await Promise.all(
    Array.from({ length: 20 }, () => handler.handle('counter-e', { type: 'Add', by: 1 }, systemCause())),
  );
  t.is((await handler.load('counter-e')).state.total, 20);
});

test('racing writers with the same expected version: exactly one wins, the others see version_mismatch', async (t) => {
  const handler = handlerWaitingFor([]);
  await handler.handle('counter-f', { type: 'Open', label: 'x' }, systemCause());
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, () =>
      handler.handle('counter-f', { type: 'Add', by: 1, expectedVersion: 1 }, systemCause()),
    ),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results)
    if (r.status === 'rejected') t.like(r.reason, { code: 'version_mismatch', currentVersion: 2 });
});

test('a command computed from the state sees the state it is decided on', async (t) => {
  const handler = handlerWaitingFor([]);
  await handler.handle('counter-g', { type: 'Open', label: 'x' }, systemCause());
  await handler.handle('counter-g', (s) => ({ type: 'Add', by: s.version + 10 }), systemCause());
  t.is((await handler.load('counter-g')).state.total, 11);
});

test('past the retry budget the conflict is thrown, nothing half-done', async (t) => {
  const handler = new CommandHandler(
    { store, waitForReadModels: () => Promise.resolve(true), retry: { attempts: 1, delayMs: () => 0 } },
    decider,
    codec,
  );
  await handler.handle('counter-h', { type: 'Open', label: 'x' }, systemCause());
  const stale = await handler.load('counter-h');
  await handler.handle('counter-h', { type: 'Add', by: 1 }, systemCause());
  await t.throwsAsync(handler.handle('counter-h', { type: 'Add', by: 5 }, systemCause(), { known: stale }), {
    instanceOf: StreamConflictError,
  });
  t.is((await handler.load('counter-h')).state.total, 1);
});

test("with codec.streamOf, a decision's events for another stream are appended there", async (t) => {
  const routed: EventCodec<CounterEvent> = {
    ...codec,
    streamOf: (e) => (e.type === 'CounterRefused' ? 'counter-i-refusals' : 'counter-i'),
  };
  const handler = new CommandHandler({ store, waitForReadModels: () => Promise.resolve(true) }, decider, routed);
  await handler.handle('counter-i', { type: 'Open', label: 'x' }, systemCause());
  await t.throwsAsync(handler.handle('counter-i', { type: 'Add', by: -3 }, systemCause()), {
    instanceOf: DomainError,
  });
  const handled = await handler.handle('counter-i', { type: 'Add', by: 2 }, systemCause());
  t.deepEqual(
    (await store.readStream('counter-i')).map((e) => e.type),
    ['CounterOpened', 'CounterAdded'],
  );
  t.deepEqual(
    (await store.readStream('counter-i-refusals')).map((e) => e.type),
    ['CounterRefused'],
  );
  t.is(handled.expected, 1);
});
