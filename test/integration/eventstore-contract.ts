// The one contract every event store adapter must keep. It uses only the port, so the same
// tests run against PostgreSQL (always) and EventStoreDB (when EVENTSTORE_URL is set).
import { randomBytes, randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { signDigest } from '../../platform/audit/digest.ts';
import { signingKeyFromSeed } from '../../platform/audit/keys.ts';
import { EMPTY_LOG, advance, type LogState } from '../../platform/audit/log-head.ts';
import { StreamLinks, verifyLog } from '../../platform/audit/verify-log.ts';
import { eventDigest } from '../../platform/eventstore/hash-chain.ts';
import {
  StreamConflictError,
  comparePositions,
  formatPosition,
  type EventStore,
  type NewEvent,
  type Position,
  type RecordedEvent,
} from '../../platform/eventstore/port.ts';

export interface OpenedStore {
  store: EventStore;
  cleanup(): Promise<void>;
}

export function newEvent(type: string, data: Record<string, unknown> = {}): NewEvent {
  return {
    type,
    data,
    metadata: {
      eventId: randomUUID(),
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      actorId: 'contract-suite',
      actorType: 'system',
      requestId: randomUUID(),
      correlationId: null,
      causationId: null,
      traceparent: null,
    },
  };
}

/** Unique per test, so every test can share one store (and one EventStoreDB server). */
const streamName = (label: string) => `contract-${label}-${randomUUID()}`;

/** Reads the subscription until `until` holds or the time runs out. */
async function collect(
  store: EventStore,
  options: { after?: Position; eventTypes?: readonly string[]; maxBatchSize?: number },
  until: (events: RecordedEvent[]) => boolean,
  timeoutMs = 20_000,
): Promise<{ events: RecordedEvent[]; checkpoints: Position[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: RecordedEvent[] = [];
  const checkpoints: Position[] = [];
  try {
    for await (const batch of store.subscribe({ ...options, signal: controller.signal })) {
      events.push(...batch.events);
      checkpoints.push(batch.checkpoint);
      if (until(events)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { events, checkpoints };
}

/**
 * Pages through readAll after `after` until `enough` holds (bounded). readAll returns only what
 * is safely visible: a transaction still open anywhere on the server holds later events back.
 */
async function readAllUntil(
  store: EventStore,
  after: Position | undefined,
  maxCount: number,
  enough: (seen: RecordedEvent[]) => boolean,
  eventTypes?: readonly string[],
  timeoutMs = 20_000,
): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  let from = after;
  while (!enough(seen) && Date.now() < deadline) {
    const page = await store.readAll({
      ...(from ? { after: from } : {}),
      maxCount,
      ...(eventTypes ? { eventTypes } : {}),
    });
    if (page.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    seen.push(...page);
    from = page.at(-1)!.position;
  }
  return seen;
}

/** Waits until readers see `position` (a transaction still open anywhere on a PostgreSQL server holds it back). */
async function untilVisible(store: EventStore, position: Position): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    const head = await store.headPosition();
    if (head && comparePositions(head, position) >= 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`position ${formatPosition(position)} never became visible`);
}

const auditKey = signingKeyFromSeed('contract', randomBytes(32));
const auditKeys = { signing: auditKey, verify: [auditKey] };

export function eventStoreContract(test: TestFn, open: () => Promise<OpenedStore>): void {
  let opened: OpenedStore | undefined;
  const store = (): EventStore => {
    if (!opened) throw new Error('store not opened');
    return opened.store;
  };
  test.before(async () => {
    opened = await open();
  });
  test.after.always(async () => {
    await opened?.cleanup();
  });

  test.serial('append to a new stream and read it back in order', async (t) => {
    const id = streamName('read');
    const result = await store().append(
      id,
      [newEvent('A', { n: 1 }), newEvent('B', { n: 2 }), newEvent('C', { n: 3 })],
      { expectedRevision: 'no_stream' },
    );
    t.is(result.nextExpectedRevision, 2);
    const events = await store().readStream(id);
    t.deepEqual(
      events.map((e) => [e.type, e.revision, e.data.n]),
      [
        ['A', 0, 1],
        ['B', 1, 2],
        ['C', 2, 3],
      ],
    );
    t.deepEqual(events.at(-1)?.position, result.position);
    t.is(events[0]?.metadata.actorId, 'contract-suite');
    t.deepEqual(
      (await store().readStream(id, { fromRevision: 1, maxCount: 1 })).map((e) => e.type),
      ['B'],
    );
  });

  test.serial('a missing stream reads as empty and does not exist', async (t) => {
    const id = streamName('missing');
    t.deepEqual(await store().readStream(id), []);
    t.false(await store().streamExists(id));
    await store().append(id, [newEvent('A')], { expectedRevision: 'no_stream' });
    t.true(await store().streamExists(id));
  });

  test.serial('expected revision: no_stream, exact and any', async (t) => {
    const id = streamName('expected');
    await store().append(id, [newEvent('A')], { expectedRevision: 'no_stream' });
    const noStream = await t.throwsAsync(store().append(id, [newEvent('B')], { expectedRevision: 'no_stream' }), {
      instanceOf: StreamConflictError,
    });
    t.is(noStream.streamId, id);
    await t.throwsAsync(store().append(id, [newEvent('B')], { expectedRevision: 5 }), {
      instanceOf: StreamConflictError,
    });
    const exact = await store().append(id, [newEvent('B')], { expectedRevision: 0 });
    t.is(exact.nextExpectedRevision, 1);
    const any = await store().append(id, [newEvent('C')], { expectedRevision: 'any' });
    t.is(any.nextExpectedRevision, 2);
    t.deepEqual(
      (await store().readStream(id)).map((e) => e.type),
      ['A', 'B', 'C'],
    );
  });

  test.serial('two writers with the same expected revision: exactly one wins, the loser stores nothing', async (t) => {
    for (let round = 0; round < 10; round++) {
      const id = streamName('race');
      await store().append(id, [newEvent('Opened')], { expectedRevision: 'no_stream' });
      const results = await Promise.allSettled([
        store().append(id, [newEvent('WriterA'), newEvent('WriterA2')], { expectedRevision: 0 }),
        store().append(id, [newEvent('WriterB'), newEvent('WriterB2')], { expectedRevision: 0 }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      t.is(won.length, 1);
      t.is(lost.length, 1);
      t.true(lost[0]?.reason instanceof StreamConflictError);
      const types = (await store().readStream(id)).map((e) => e.type);
      t.is(types.length, 3);
      t.true(types.join() === 'Opened,WriterA,WriterA2' || types.join() === 'Opened,WriterB,WriterB2');
    }
  });

  test.serial('many events are appended atomically: a refused append stores none of them', async (t) => {
    const id = streamName('atomic');
    await store().append(id, [newEvent('A')], { expectedRevision: 'no_stream' });
    await t.throwsAsync(store().append(id, [newEvent('X'), newEvent('Y'), newEvent('Z')], { expectedRevision: 3 }), {
      instanceOf: StreamConflictError,
    });
    t.deepEqual(
      (await store().readStream(id)).map((e) => e.type),
      ['A'],
    );
    const batch = Array.from({ length: 50 }, (_, i) => newEvent('Bulk', { i }));
    const result = await store().append(id, batch, { expectedRevision: 0 });
    t.is(result.nextExpectedRevision, 50);
    const all = await store().readStream(id);
    t.deepEqual(
      all.slice(1).map((e) => e.data.i),
      batch.map((_, i) => i),
    );
  });

  test.serial('appendMany: several streams, each with its expected revision, in one call', async (t) => {
    const [a, b, c] = [streamName('many-a'), streamName('many-b'), streamName('many-c')];
    const before = (await store().append(b, [newEvent('B0')], { expectedRevision: 'no_stream' })).position;
    const results = await store().appendMany([
      { streamId: a, events: [newEvent('A0'), newEvent('A1')], expectedRevision: 'no_stream' },
      { streamId: b, events: [newEvent('B1'), newEvent('B2'), newEvent('B3')], expectedRevision: 0 },
      { streamId: c, events: [newEvent('C0')], expectedRevision: 'any' },
    ]);
    t.deepEqual(
      results.map((r) => r.nextExpectedRevision),
      [1, 3, 0],
    );
    const read = await Promise.all([a, b, c].map((id) => store().readStream(id)));
    t.deepEqual(
      read.map((events) => events.map((e) => `${e.type}@${e.revision}`).join()),
      ['A0@0,A1@1', 'B0@0,B1@1,B2@2,B3@3', 'C0@0'],
    );
    t.deepEqual(
      read.map((events) => events.at(-1)!.position),
      results.map((r) => r.position),
    );
    // The global order is the order given, and every stream's chain holds as with single appends.
    const last = results.at(-1)!.position;
    await untilVisible(store(), last);
    const after = { commit: before.commit, prepare: before.prepare - 1n };
    const stored = (await store().readAllStored({ after, maxCount: 1000 })).filter((e) =>
      [a, b, c].includes(e.streamId),
    );
    t.deepEqual(
      stored.map((e) => e.type),
      ['B0', 'A0', 'A1', 'B1', 'B2', 'B3', 'C0'],
    );
    const links = new Map([a, b, c].map((id) => [id, new StreamLinks()]));
    t.deepEqual(
      stored.map((e) => links.get(e.streamId)!.check(e, eventDigest(e)) ?? 'holds'),
      stored.map(() => 'holds'),
    );
  });

  test.serial('appendMany: a revision that does not hold is a conflict naming its stream', async (t) => {
    const [a, b, c] = [streamName('many-x'), streamName('many-y'), streamName('many-z')];
    await store().append(b, [newEvent('B0')], { expectedRevision: 'no_stream' });
    const conflict = await t.throwsAsync(
      store().appendMany([
        { streamId: a, events: [newEvent('A0')], expectedRevision: 'no_stream' },
        { streamId: b, events: [newEvent('B1')], expectedRevision: 'no_stream' },
        { streamId: c, events: [newEvent('C0')], expectedRevision: 'no_stream' },
      ]),
      { instanceOf: StreamConflictError },
    );
    t.is(conflict.streamId, b);
    t.deepEqual(
      (await store().readStream(b)).map((e) => e.type),
      ['B0'],
    );
    t.false(await store().streamExists(c), 'nothing after the conflicting stream');
    // PostgreSQL: one transaction, nothing stored. EventStoreDB: the streams before it stay.
    t.is(await store().streamExists(a), store().kind === 'esdb');
  });

  test.serial('appendMany: two batches racing for one stream, exactly one wins', async (t) => {
    for (let round = 0; round < 5; round++) {
      const shared = streamName('many-race');
      const batch = (label: string) => [
        { streamId: shared, events: [newEvent(label)], expectedRevision: 'no_stream' as const },
        { streamId: streamName(`many-${label}`), events: [newEvent(label)], expectedRevision: 'no_stream' as const },
      ];
      const [one, two] = [batch('One'), batch('Two')];
      const settled = await Promise.allSettled([store().appendMany(one), store().appendMany(two)]);
      t.is(settled.filter((r) => r.status === 'fulfilled').length, 1);
      const lost = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      t.true(lost.reason instanceof StreamConflictError);
      const loser = settled[0].status === 'rejected' ? one : two;
      t.false(await store().streamExists(loser[1]!.streamId), "the loser's other stream is not appended");
      t.is((await store().readStream(shared)).length, 1);
    }
  });

  test.serial('appendMany: an empty batch appends nothing; a stream twice is refused', async (t) => {
    t.deepEqual(await store().appendMany([]), []);
    const id = streamName('many-twice');
    await t.throwsAsync(
      store().appendMany([
        { streamId: id, events: [newEvent('A')], expectedRevision: 'no_stream' },
        { streamId: id, events: [newEvent('B')], expectedRevision: 0 },
      ]),
      { instanceOf: TypeError },
    );
    t.false(await store().streamExists(id));
  });

  test.serial('readAll returns the global log in order, every event once across small pages', async (t) => {
    const head = await store().headPosition();
    const ids = Array.from({ length: 8 }, () => streamName('readall'));
    await Promise.all(
      ids.map(async (id) => {
        for (let i = 0; i < 25; i++)
          await store().append(id, [newEvent('Paged', { i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
      }),
    );
    const seen = await readAllUntil(store(), head, 7, (s) => s.filter((e) => ids.includes(e.streamId)).length >= 200);
    const ours = seen.filter((e) => ids.includes(e.streamId));
    t.is(ours.length, 200);
    t.is(new Set(ours.map((e) => e.metadata.eventId)).size, 200);
    for (let i = 1; i < seen.length; i++) t.true(comparePositions(seen[i - 1]!.position, seen[i]!.position) < 0);
    for (const id of ids)
      t.deepEqual(
        ours.filter((e) => e.streamId === id).map((e) => e.revision),
        Array.from({ length: 25 }, (_, i) => i),
      );
  });

  test.serial('readAll can filter by event type', async (t) => {
    const head = await store().headPosition();
    const id = streamName('filter');
    const wanted = `Wanted-${randomUUID()}`;
    await store().append(id, [newEvent('Other'), newEvent(wanted), newEvent('Other'), newEvent(wanted)], {
      expectedRevision: 'no_stream',
    });
    const page = await readAllUntil(store(), head, 100, (s) => s.length >= 2, [wanted]);
    t.deepEqual(
      page.map((e) => [e.type, e.revision]),
      [
        [wanted, 1],
        [wanted, 3],
      ],
    );
  });

  test.serial('subscribe from a checkpoint delivers only later events, then live ones', async (t) => {
    const id = streamName('subscribe');
    const first = await store().append(id, [newEvent('Before1'), newEvent('Before2')], {
      expectedRevision: 'no_stream',
    });
    setTimeout(() => {
      void store().append(id, [newEvent('Live1'), newEvent('Live2')], { expectedRevision: 1 });
    }, 200);
    const { events } = await collect(store(), { after: first.position }, (seen) =>
      seen.some((e) => e.streamId === id && e.type === 'Live2'),
    );
    const ours = events.filter((e) => e.streamId === id).map((e) => e.type);
    t.deepEqual(ours, ['Live1', 'Live2']);
  });

  test.serial('a filtered subscription skips other types and its checkpoint still reaches the head', async (t) => {
    const start = await store().headPosition();
    const id = streamName('subfilter');
    const wanted = `Counted-${randomUUID()}`;
    await store().append(id, [newEvent(wanted)], { expectedRevision: 'no_stream' });
    const last = await store().append(id, [newEvent('Noise'), newEvent('Noise')], { expectedRevision: 0 });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 15_000);
    const delivered: RecordedEvent[] = [];
    let reached = false;
    for await (const batch of store().subscribe({
      ...(start ? { after: start } : {}),
      eventTypes: [wanted],
      signal: controller.signal,
    })) {
      delivered.push(...batch.events);
      if (comparePositions(batch.checkpoint, last.position) >= 0) {
        reached = true;
        break;
      }
    }
    clearTimeout(timer);
    controller.abort();
    t.true(reached, `checkpoint never reached ${formatPosition(last.position)}`);
    t.deepEqual(
      delivered.map((e) => e.type),
      [wanted],
    );
  });

  test.serial(
    'stress: 8 concurrent appenders over many streams while a subscriber runs; every event exactly once, each stream in order',
    async (t) => {
      const start = await store().headPosition();
      const writers = 8;
      const streamsPerWriter = 25;
      const eventsPerStream = 12;
      const expected = writers * streamsPerWriter * eventsPerStream;
      const runId = randomUUID().slice(0, 8);
      const subscriber = collect(
        store(),
        { ...(start ? { after: start } : {}), maxBatchSize: 50 },
        (seen) => seen.filter((e) => e.streamId.includes(runId)).length >= expected,
        60_000,
      );
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const revisions = new Map<string, number>();
          for (let round = 0; round < eventsPerStream; round++) {
            for (let s = 0; s < streamsPerWriter; s++) {
              const id = `stress-${runId}-${w}-${s}`;
              const previous = revisions.get(id);
              const r = await store().append(id, [newEvent('Stressed', { round })], {
                expectedRevision: previous ?? 'no_stream',
              });
              revisions.set(id, r.nextExpectedRevision);
            }
          }
        }),
      );
      const { events } = await subscriber;
      const ours = events.filter((e) => e.streamId.includes(runId));
      t.is(ours.length, expected, 'subscriber saw every event');
      t.is(new Set(ours.map((e) => e.metadata.eventId)).size, expected, 'no event twice');
      for (let i = 1; i < events.length; i++)
        t.true(comparePositions(events[i - 1]!.position, events[i]!.position) < 0, 'global order');
      const byStream = new Map<string, number[]>();
      for (const e of ours) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e.revision]);
      t.is(byStream.size, writers * streamsPerWriter);
      for (const revisions of byStream.values())
        t.deepEqual(
          revisions,
          Array.from({ length: eventsPerStream }, (_, i) => i),
        );
    },
  );

  test.serial('concurrent appenders, then readAll in batches of 100 returns every event exactly once', async (t) => {
    const start = await store().headPosition();
    const runId = randomUUID().slice(0, 8);
    const appended = new Set<string>();
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          const event = newEvent('Concurrent', { w, i });
          appended.add(event.metadata.eventId);
          await store().append(`emmett-case-${runId}-${w}`, [event], { expectedRevision: 'any' });
        }
      }),
    );
    const page = await readAllUntil(
      store(),
      start,
      100,
      (s) => s.filter((e) => e.streamId.includes(runId)).length >= appended.size,
    );
    // A little longer, to catch any event delivered twice.
    const more = await readAllUntil(store(), page.at(-1)?.position ?? start, 100, () => false, undefined, 300);
    const seen = [...page, ...more].filter((e) => e.streamId.includes(runId)).map((e) => e.metadata.eventId);
    t.is(seen.length, appended.size);
    t.is(new Set(seen).size, appended.size);
    t.true(seen.every((id) => appended.has(id)));
  });

  test.serial('countAfter and headPosition follow the log', async (t) => {
    const before = await store().headPosition();
    const id = streamName('count');
    const r = await store().append(id, [newEvent('A'), newEvent('B'), newEvent('C')], {
      expectedRevision: 'no_stream',
    });
    // The head may trail a fresh append while any transaction on the server is still open (a
    // reader never passes one; CREATE DATABASE by a parallel test file can take seconds).
    let head = await store().headPosition();
    for (let tries = 0; tries < 600 && (!head || comparePositions(head, r.position) < 0); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      head = await store().headPosition();
    }
    t.truthy(head);
    t.true(
      comparePositions(head!, r.position) >= 0,
      `head ${head ? formatPosition(head) : '-'} behind append ${formatPosition(r.position)}`,
    );
    if (before) {
      let counted = await store().countAfter(before);
      for (let tries = 0; tries < 600 && counted < 3; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        counted = await store().countAfter(before);
      }
      t.true(
        counted >= 3,
        `counted ${counted} after ${formatPosition(before)}, appended up to ${formatPosition(r.position)}`,
      );
    }
    t.is(await store().countAfter(head!), 0);
    await t.notThrowsAsync(store().ping());
  });

  test.serial('stored events: the same order as readAll, data as stored, chain hashes that hold', async (t) => {
    const id = streamName('stored');
    const events = [newEvent('A', { n: 1, text: 'Zoë ✓' }), newEvent('B', { nested: { b: [1, 2.5], a: null } })];
    const appended = await store().append(id, events, { expectedRevision: 'no_stream' });
    await store().append(id, [newEvent('C')], { expectedRevision: appended.nextExpectedRevision });
    await untilVisible(store(), (await store().readStream(id)).at(-1)!.position);
    const before = (await store().readStream(id))[0]!.position;
    const after = { commit: before.commit, prepare: before.prepare - 1n };
    const stored = (await store().readAllStored({ after, maxCount: 1000 })).filter((e) => e.streamId === id);
    const read = (await store().readAll({ after, maxCount: 1000 })).filter((e) => e.streamId === id);
    const shape = (e: { type: string; revision: number; position: Position }) => [
      e.type,
      e.revision,
      formatPosition(e.position),
    ];
    t.deepEqual(stored.map(shape), read.map(shape));
    t.deepEqual(JSON.parse(stored[0]!.dataText), { n: 1, text: 'Zoë ✓' });
    t.is(JSON.parse(stored[0]!.metadataText).eventId, read[0]!.metadata.eventId);
    const links = new StreamLinks();
    t.deepEqual(
      stored.map((e) => links.check(e, eventDigest(e)) ?? 'holds'),
      ['holds', 'holds', 'holds'],
    );
    t.true(stored.every((e) => e.hashVersion === 2 && e.hash === read.find((r) => r.revision === e.revision)!.hash));
  });

  test.serial('audit digest: a signed head over the whole log verifies, and still does as the log grows', async (t) => {
    const fresh = { expectedRevision: 'no_stream' } as const;
    const first = await store().append(streamName('digest'), [newEvent('A'), newEvent('B')], fresh);
    await untilVisible(store(), first.position);
    const state = await advance(store(), EMPTY_LOG);
    t.true(state.eventCount >= 2);
    const digest = signDigest(state, auditKeys);
    const ok = { ok: true, checkedEvents: state.eventCount, firstBrokenPosition: null, problems: [] };
    t.deepEqual(await verifyLog(store(), digest, auditKeys.verify, { pageSize: 7 }), ok);
    const more = await store().append(streamName('digest'), [newEvent('C')], { expectedRevision: 'no_stream' });
    await untilVisible(store(), more.position);
    t.true((await verifyLog(store(), digest, auditKeys.verify)).ok, 'events after the digest do not matter');
    // Going on from a digest gives the head a full pass gives.
    const onward = await advance(store(), state, { pageSize: 3 });
    const whole = await advance(store(), EMPTY_LOG, { upTo: onward.position });
    t.deepEqual([onward.eventCount, onward.head.toString('hex')], [whole.eventCount, whole.head.toString('hex')]);
  });

  test.serial('audit digest: a log that does not reproduce the digest, or a foreign digest, by kind', async (t) => {
    const appended = await store().append(streamName('digest-bad'), [newEvent('A')], { expectedRevision: 'no_stream' });
    await untilVisible(store(), appended.position);
    const state = await advance(store(), EMPTY_LOG);
    const kinds = async (claimed: LogState) =>
      (await verifyLog(store(), signDigest(claimed, auditKeys), auditKeys.verify)).problems.map((p) => p.kind);
    t.deepEqual(await kinds({ ...state, eventCount: state.eventCount + 2 }), ['missing']);
    t.deepEqual(await kinds({ ...state, eventCount: state.eventCount - 1 }), ['inserted']);
    t.deepEqual(await kinds({ ...state, head: Buffer.alloc(32, 7) }), ['modified']);
    const digest = signDigest(state, auditKeys);
    const forged = { ...digest, head: Buffer.alloc(32, 7).toString('hex') };
    t.deepEqual(
      (await verifyLog(store(), forged, auditKeys.verify)).problems.map((p) => p.kind),
      ['bad_signature'],
    );
  });
}
