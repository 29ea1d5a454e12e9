// The samples command side, on the one command pipeline (platform/commands/handler.ts): each
// command loads sample-<id>, decides, appends and waits for the read model. Without If-Match a
// concurrent writer's conflict is decided again on fresh state, so no update is ever lost; with
// If-Match the decider compares versions and a stale one appends nothing.
import { randomUUID } from 'node:crypto';
import { CommandHandler } from '../../platform/commands/handler.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import { sampleDecider, type LabRole, type SampleChanges } from './decide.ts';
import {
  isSampleEventType,
  parseSampleEvent,
  sampleEventSchemaVersions,
  sampleStream,
  type SampleStatus,
  type SampleType,
} from './events.ts';
import { isRegistered, type SampleState } from './evolve.ts';
import type { SampleView } from './queries.ts';

export interface SampleCommandDeps {
  readonly store: EventStore;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  readonly now?: () => Date;
}

export interface NewSample {
  readonly sampleType: SampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status?: SampleStatus | undefined;
  readonly storageLocation?: string | null | undefined;
  readonly notes?: string | null | undefined;
}

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
  const roleOfSample = (state: SampleState, roleIn: RoleLookup) =>
    isRegistered(state) ? roleIn(state.labId) : Promise.resolve(undefined);

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
      return (await samples.handle(sampleStream(sampleId), command, cause)).state;
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
      const command = {
        type: 'RegisterSample',
        data: { ...input, sampleId, ownerId, labId, role, now: now() },
      } as const;
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
          data: { role: await roleOfSample(state, roleIn), changes, reason: cause.reason, expectedVersion, now: now() },
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
      return viewOf((await samples.handle(sampleStream(sampleId), command, cause)).state);
    },
  };
}

export type SampleCommands = ReturnType<typeof createSampleCommands>;
