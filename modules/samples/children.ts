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
  if (event.type === 'SampleAliquoted') {
    return event.data.children.map((child) => ({
      ...inherited,
      sampleId: child.sampleId,
      barcode: child.barcode,
      quantity: child.quantity,
      sampleType: parent.sampleType,
      lineage: 'aliquot' as const,
      registeredAt: event.data.aliquotedAt,
    }));
  }
  const child = event.data.child;
  return [
    {
      ...inherited,
      sampleId: child.sampleId,
      barcode: child.barcode,
      quantity: child.quantity,
      sampleType: child.sampleType,
      lineage: 'derivative' as const,
      registeredAt: event.data.derivedAt,
    },
  ];
}

/** Every child the parent's history announces, each from the parent as it was just before. */
export function announcedChildren(history: readonly SampleEvent[]): SampleEventData<'SampleRegistered'>[] {
  const children: SampleEventData<'SampleRegistered'>[] = [];
  let state: SampleState = initialSampleState();
  for (const event of history) {
    if ((event.type === 'SampleAliquoted' || event.type === 'SampleDerived') && isRegistered(state)) {
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
 * At start: every parent whose aliquot or derivative event announced children that have no stream
 * yet (a crash between the two steps) gets them now. Returns how many children were written.
 */
export async function completePendingChildren(store: EventStore, append: Append, cause: CommandCause): Promise<number> {
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
    const history = (await store.readStream(streamId))
      .filter((e) => isSampleEventType(e.type))
      .map((e) => parseSampleEvent(e.type as never, e.data));
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
