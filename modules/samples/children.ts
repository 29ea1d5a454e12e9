// The second step of an aliquot or derivative: the children the parent's event announces get
// their own streams (registered "no stream", so a repeat writes nothing twice) and their barcodes
// reserved. The parent's event carries everything needed, so a crash between the two steps is
// completed by `completePendingChildren` at start: never a parent debited for children that do
// not exist.
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { StreamConflictError, type EventStore, type Position } from '../../platform/eventstore/port.ts';
import { isSampleEventType, parseSampleEvent, sampleStream, type SampleEvent, type SampleEventData } from './events.ts';
import { evolveSample, initialSampleState, isRegistered, type RegisteredSample, type SampleState } from './evolve.ts';
import { barcodeReservationStreamId } from './physical/barcode.ts';
import { announcedChildFields } from './physical/decide.ts';

type Announcing = Extract<SampleEvent, { type: 'SampleAliquoted' | 'SampleDerived' }>;
export type Append = (
  streamId: string,
  events: SampleEvent[],
  cause: CommandCause,
) => Promise<{ position: Position } | undefined>;

/** The registrations of the children an event announces: lab, subject and collection date inherited. */
export function childRegistrationsOf(
  parent: RegisteredSample,
  event: Announcing,
): SampleEventData<'SampleRegistered'>[] {
  const inherited = {
    ownerId: parent.ownerId,
    labId: parent.labId,
    subjectId: parent.subjectId,
    collectionDate: parent.collectionDate,
    status: 'collected' as const,
    storageLocation: null,
    notes: null,
    parentId: parent.sampleId,
  };
  return announcedChildFields(parent.sampleType, event).map((child) => ({ ...inherited, ...child }));
}

/**
 * Every child the parent's history announces, each from the parent as it was just before; with
 * `requestKey`, only the children of the request under that key (an Idempotency-Key repeat).
 */
export function announcedChildren(
  history: readonly SampleEvent[],
  requestKey?: string,
): SampleEventData<'SampleRegistered'>[] {
  const children: SampleEventData<'SampleRegistered'>[] = [];
  let state: SampleState = initialSampleState();
  for (const event of history) {
    const announcing = event.type === 'SampleAliquoted' || event.type === 'SampleDerived';
    if (announcing && isRegistered(state) && (requestKey === undefined || event.data.requestKey === requestKey)) {
      children.push(...childRegistrationsOf(state, event));
    }
    state = evolveSample(state, event);
  }
  return children;
}

/** Writes the children that do not exist yet (a stream that exists already is skipped). */
export async function writeChildren(
  append: Append,
  children: readonly SampleEventData<'SampleRegistered'>[],
  cause: CommandCause,
): Promise<Position | undefined> {
  let last: Position | undefined;
  for (const child of children) {
    const reservation: SampleEvent = {
      type: 'SampleBarcodeReserved',
      data: {
        sampleId: child.sampleId,
        ownerId: child.ownerId,
        labId: child.labId,
        barcode: child.barcode!,
        reservedAt: child.registeredAt,
      },
    };
    const written = await Promise.all([
      append(barcodeReservationStreamId(child.labId, child.barcode!), [reservation], cause),
      append(sampleStream(child.sampleId), [{ type: 'SampleRegistered', data: child }], cause),
    ]);
    last = written[1]?.position ?? last;
  }
  return last;
}

/** An append "no stream" that treats an existing stream as done (a repeat after a crash). */
export const appendOnce =
  (append: (streamId: string, events: SampleEvent[], cause: CommandCause) => Promise<{ position: Position }>): Append =>
  async (streamId, events, cause) => {
    try {
      return await append(streamId, events, cause);
    } catch (error) {
      if (error instanceof StreamConflictError) return undefined;
      throw error;
    }
  };

/**
 * A parent's event committed just before a crash can wait, unseen by log readers, behind an older
 * transaction anywhere on the server: the scan waits (bounded) until none is waiting.
 */
async function horizonCleared(store: EventStore, waitMs: number): Promise<boolean> {
  if (!store.horizon) return true;
  const deadline = Date.now() + waitMs;
  while ((await store.horizon()).waitingEvents > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** A sample's events, parsed. */
export async function sampleHistory(store: EventStore, streamId: string): Promise<SampleEvent[]> {
  return (await store.readStream(streamId))
    .filter((e) => isSampleEventType(e.type))
    .map((e) => parseSampleEvent(e.type as never, e.data));
}

/**
 * At start: every parent whose aliquot or derivative event announced children that have no stream
 * yet (a crash between the two steps) gets them now. Returns how many children were written.
 */
export async function completePendingChildren(
  store: EventStore,
  append: Append,
  cause: CommandCause,
  horizonWaitMs = 30_000,
): Promise<number> {
  await horizonCleared(store, horizonWaitMs);
  let after: Position | undefined;
  let written = 0;
  const parents = new Set<string>();
  for (;;) {
    const page = await store.readAll({
      ...(after ? { after } : {}),
      maxCount: 500,
      eventTypes: ['SampleAliquoted', 'SampleDerived'],
    });
    if (page.length === 0) break;
    after = page[page.length - 1]!.position;
    for (const event of page) parents.add(event.streamId);
  }
  for (const streamId of parents) {
    const history = await sampleHistory(store, streamId);
    const missing = [];
    for (const child of announcedChildren(history)) {
      if (!(await store.streamExists(sampleStream(child.sampleId)))) missing.push(child);
    }
    if (missing.length > 0) {
      await writeChildren(append, missing, cause);
      written += missing.length;
    }
  }
  return written;
}
