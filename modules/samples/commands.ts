// The samples command side, on the one command pipeline (platform/commands/handler.ts): each
// command loads sample-<id>, decides, appends and waits for the read model. Without If-Match a
// concurrent writer's conflict is decided again on fresh state, so no update is ever lost; with
// If-Match the decider compares versions and a stale one appends nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { DomainError } from '../../platform/commands/decision.ts';
import { CommandHandler } from '../../platform/commands/handler.ts';
import { eventMetadata } from '../../platform/eventstore/metadata.ts';
import { assertStorableEvent } from '../../platform/text.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { StreamConflictError, type EventStore, type Position } from '../../platform/eventstore/port.ts';
import { decideSample, sampleDecider, type LabRole, type NewSample, type SampleChanges } from './decide.ts';
import { isSampleEventType, parseSampleEvent, sampleEventSchemaVersions, sampleStream } from './events.ts';
import { initialSampleState, isRegistered, type SampleState } from './evolve.ts';
import { barcodeReservationStreamId, barcodeTaken, generateBarcode } from './physical/barcode.ts';
import type { Quantity } from './physical/quantity.ts';
import type { SampleView } from './queries.ts';
import {
  announcedChildren,
  appendOnce,
  childRegistrationsOf,
  completePendingChildren,
  sampleHistory,
  writeChildren,
} from './children.ts';
import type { TakeChildren } from './decide.ts';
import type { PhysicalSampleType } from './physical/status.ts';

export interface SampleCommandDeps {
  readonly store: EventStore;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  readonly now?: () => Date;
  /** SAMPLES_MAX_AGE_YEARS (default 10, 0: no limit). */
  readonly maxAgeYears?: number | undefined;
}

export type { NewSample };

export type TakeRequest = (
  | { kind: 'aliquots'; count: number; quantity?: Quantity | undefined }
  | {
      kind: 'derivative';
      sampleType: PhysicalSampleType;
      quantity?: Quantity | undefined;
      consumes?: Quantity | undefined;
    }
) & {
  /** A hash of the caller, the Idempotency-Key and the request: a repeat finds what it took. */
  readonly requestKey?: string | undefined;
};

/** The caller's role in a lab, read afresh for every command (undefined: not a member). */
export type RoleLookup = (labId: string) => Promise<LabRole | undefined>;

export function viewOf(state: SampleState): SampleView {
  if (!isRegistered(state)) throw new Error('no sample');
  return {
    id: state.sampleId,
    labId: state.labId,
    sampleType: state.sampleType,
    subjectId: state.subjectId,
    collectionDate: state.collectionDate,
    status: state.status,
    storageLocation: state.storageLocation,
    notes: state.notes,
    barcode: state.barcode,
    quantity: state.quantity,
    remaining: state.remaining,
    lineage: state.lineage,
    parentId: state.parentId,
    freezeThawCount: state.freezeThawCount,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    version: state.version,
  };
}

export function createSampleCommands(deps: SampleCommandDeps) {
  const now = deps.now ?? (() => new Date());
  const samples = new CommandHandler(
    { store: deps.store, waitForReadModels: deps.waitForReadModel, now },
    sampleDecider,
    { isType: isSampleEventType, parse: parseSampleEvent, schemaVersions: sampleEventSchemaVersions },
  );

  /** The sample's lab is known only once its stream is loaded: the role is looked up then. */
  async function reserveBarcode(
    sampleId: string,
    ownerId: string,
    labId: string,
    barcode: string,
    cause: CommandCause,
  ) {
    const event = {
      type: 'SampleBarcodeReserved',
      data: { sampleId, ownerId, labId, barcode, reservedAt: now().toISOString() },
    } as const;
    try {
      await samples.append(barcodeReservationStreamId(labId, barcode), [event], cause, 'no_stream');
    } catch (error) {
      if (!(error instanceof StreamConflictError)) throw error;
      // The sample's own reservation (a sample back in a lab it was in before) holds.
      const [first] = await deps.store.readStream(barcodeReservationStreamId(labId, barcode), { maxCount: 1 });
      if ((first?.data as { sampleId?: unknown } | undefined)?.sampleId !== sampleId) {
        throw new DomainError(barcodeTaken(barcode));
      }
    }
  }

  const appendChild = appendOnce((streamId, events, cause) => samples.append(streamId, events, cause, 'no_stream'));

  const roleOfSample = (state: SampleState, roleIn: RoleLookup) =>
    isRegistered(state) ? roleIn(state.labId) : Promise.resolve(undefined);

  /**
   * A repeat of a take whose stored answer was lost (a crash after the parent's event): what that
   * request took, its children written if they are not yet, nothing new. Undefined when there was
   * no such request, or the caller may no longer take from the sample (then the decider answers).
   */
  async function takenBefore(parentId: string, requestKey: string, roleIn: RoleLookup, cause: CommandCause) {
    const earlier = announcedChildren(await sampleHistory(deps.store, sampleStream(parentId)), requestKey);
    if (earlier.length === 0) return undefined;
    const { state } = await samples.load(sampleStream(parentId));
    if (!isRegistered(state) || state.kind === 'discarded') return undefined;
    const role = await roleOfSample(state, roleIn);
    if (role === undefined || role === 'viewer') return undefined;
    const position = await writeChildren(appendChild, earlier, cause);
    if (position) await deps.waitForReadModel(position);
    return { parent: viewOf(state), children: earlier.map((c) => c.sampleId) };
  }

  return {
    /** The sample's state as its stream says (placement reads it before touching the box). */
    async load(sampleId: string): Promise<SampleState> {
      return (await samples.load(sampleStream(sampleId))).state;
    },

    /** The sample's half of a placement (the box claimed the slot first). */
    async place(sampleId: string, unitId: string, position: string, roleIn: RoleLookup, cause: CommandCause) {
      const command = async (state: SampleState) =>
        ({
          type: 'PlaceSample',
          data: { role: await roleOfSample(state, roleIn), unitId, position, now: now() },
        }) as const;
      // The slot the sample left, as its own record says: under concurrent placements of one
      // sample, only the event knows which slot this placement took it from.
      const handled = await samples.handle(sampleStream(sampleId), command, cause);
      const placed = handled.events.find((e) => e.type === 'SamplePlaced');
      return { state: handled.state, left: placed?.type === 'SamplePlaced' ? placed.data.from : null };
    },

    /** The sample leaves its slot (the box frees it afterwards). */
    async unplace(sampleId: string, reason: 'unplaced' | 'final', roleIn: RoleLookup, cause: CommandCause) {
      const command = async (state: SampleState) =>
        ({ type: 'UnplaceSample', data: { role: await roleOfSample(state, roleIn), reason, now: now() } }) as const;
      return (await samples.handle(sampleStream(sampleId), command, cause)).state;
    },

    async register(
      ownerId: string,
      labId: string,
      role: LabRole | undefined,
      input: NewSample,
      cause: CommandCause,
    ): Promise<SampleView> {
      const sampleId = randomUUID();
      const barcode = input.barcode ?? generateBarcode((size) => randomBytes(size));
      const command = {
        type: 'RegisterSample',
        data: { ...input, barcode, sampleId, ownerId, labId, role, maxAgeYears: deps.maxAgeYears, now: now() },
      } as const;
      // The barcode is reserved only for a registration that will be accepted and stored (no orphan reservations).
      const decision = decideSample(command, initialSampleState());
      if (decision.ok) {
        for (const event of decision.events) assertStorableEvent(event.type, event.data, eventMetadata(cause, 1));
        await reserveBarcode(sampleId, ownerId, labId, barcode, cause);
      }
      return viewOf((await samples.handle(sampleStream(sampleId), command, cause)).state);
    },

    /** PATCH (some fields) and PUT (all editable fields). */
    async update(
      sampleId: string,
      changes: SampleChanges,
      expectedVersion: number | undefined,
      roleIn: RoleLookup,
      cause: CommandCause,
    ): Promise<SampleView> {
      const command = async (state: SampleState) =>
        ({
          type: 'UpdateSample',
          data: {
            role: await roleOfSample(state, roleIn),
            changes,
            reason: cause.reason,
            expectedVersion,
            maxAgeYears: deps.maxAgeYears,
            now: now(),
          },
        }) as const;
      return viewOf((await samples.handle(sampleStream(sampleId), command, cause)).state);
    },

    async discard(
      sampleId: string,
      expectedVersion: number | undefined,
      roleIn: RoleLookup,
      cause: CommandCause,
    ): Promise<void> {
      const command = async (state: SampleState) =>
        ({
          type: 'DiscardSample',
          data: { role: await roleOfSample(state, roleIn), reason: cause.reason, expectedVersion, now: now() },
        }) as const;
      await samples.handle(sampleStream(sampleId), command, cause);
    },

    /**
     * Aliquots or a derivative: the parent's event (its amount taken, the children announced) in
     * one decision, then the children's streams. A crash between the two is completed at start.
     */
    async take(
      parentId: string,
      take: TakeRequest,
      roleIn: RoleLookup,
      cause: CommandCause,
    ): Promise<{ parent: SampleView; children: string[] }> {
      const repeat = take.requestKey ? await takenBefore(parentId, take.requestKey, roleIn, cause) : undefined;
      if (repeat) return repeat;
      const fresh = () => ({ sampleId: randomUUID(), barcode: generateBarcode((size) => randomBytes(size)) });
      const children: TakeChildren =
        take.kind === 'aliquots'
          ? { ...take, children: Array.from({ length: Math.max(0, Math.min(take.count, 100)) }, fresh) }
          : { ...take, child: fresh() };
      const command = async (state: SampleState) =>
        ({
          type: 'TakeFromSample',
          data: { role: await roleOfSample(state, roleIn), take: children, now: now() },
        }) as const;
      const handled = await samples.handle(sampleStream(parentId), command, cause);
      // The take events change only the parent's amount and status, nothing its children inherit.
      const parent = handled.state;
      const announced = isRegistered(parent)
        ? handled.events.flatMap((e) =>
            e.type === 'SampleAliquoted' || e.type === 'SampleDerived' ? childRegistrationsOf(parent, e) : [],
          )
        : [];
      const position = await writeChildren(appendChild, announced, cause);
      if (position) await deps.waitForReadModel(position);
      return { parent: viewOf(handled.state), children: announced.map((c) => c.sampleId) };
    },

    /** At start: children announced by a parent's event but never written (a crash) are written now. */
    completePendingChildren: (cause: CommandCause) => completePendingChildren(deps.store, appendChild, cause),

    /** One freeze–thaw cycle. */
    async thaw(sampleId: string, roleIn: RoleLookup, cause: CommandCause): Promise<SampleView> {
      const command = async (state: SampleState) =>
        ({ type: 'RecordThaw', data: { role: await roleOfSample(state, roleIn), now: now() } }) as const;
      return viewOf((await samples.handle(sampleStream(sampleId), command, cause)).state);
    },

    /** Chain of custody: to another lab, for a reason (technician in both labs). */
    async transfer(
      sampleId: string,
      toLabId: string,
      expectedVersion: number | undefined,
      roleIn: RoleLookup,
      cause: CommandCause,
    ): Promise<SampleView> {
      const command = async (state: SampleState) =>
        ({
          type: 'TransferSample',
          data: {
            role: await roleOfSample(state, roleIn),
            toLabId,
            toRole: await roleIn(toLabId),
            reason: cause.reason,
            expectedVersion,
            now: now(),
          },
        }) as const;
      // The barcode must be free in the lab it goes to; reserved there only for a transfer that will be accepted.
      const { state } = await samples.load(sampleStream(sampleId));
      if (isRegistered(state) && state.barcode !== null && decideSample(await command(state), state).ok) {
        await reserveBarcode(sampleId, state.ownerId, toLabId, state.barcode, cause);
      }
      return viewOf((await samples.handle(sampleStream(sampleId), command, cause)).state);
    },
  };
}

export type SampleCommands = ReturnType<typeof createSampleCommands>;
