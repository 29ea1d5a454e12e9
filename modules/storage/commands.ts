// The storage command side, on the one command pipeline (platform/commands/handler.ts): each
// command loads unit-<id>, decides, appends and waits for the storage read model. Facts of other
// units a decision needs (the parent's kind and lab, the ancestors above it) are read from their
// streams, not from the read model, so a decision never rests on a lagging copy.
import { randomUUID } from 'node:crypto';
import { CommandHandler } from '../../platform/commands/handler.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import { unitDecider, type ParentFacts } from './decide.ts';
import { storageEvents, unitStream, type Grid, type ReleaseReason, type UnitKind } from './events.ts';
import { isActiveUnit, type ExistingUnit } from './evolve.ts';

export interface StorageCommandDeps {
  readonly store: EventStore;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  /** Whether a unit that is not removed stands inside this one (from the read model). */
  readonly hasChildren: (unitId: string) => Promise<boolean>;
  readonly now?: () => Date;
}

export interface NewUnit {
  readonly labId: string;
  readonly name: string;
  readonly kind: UnitKind;
  readonly parentId?: string | undefined;
  readonly grid?: Grid | undefined;
  readonly temperatureC?: number | undefined;
}

/** A sample as a placement needs it: which lab it is in and its type (for the tissue rule). */
export interface PlacedSample {
  readonly id: string;
  readonly labId: string;
  readonly sampleType: string;
}

/** Units above one are at most a few; a longer chain would be a cycle the decider let through. */
const MAX_DEPTH = 16;

export function createStorageCommands(deps: StorageCommandDeps) {
  const now = deps.now ?? (() => new Date());
  const units = new CommandHandler(
    { store: deps.store, waitForReadModels: deps.waitForReadModel, now },
    unitDecider,
    storageEvents,
  );

  const activeUnit = async (unitId: string): Promise<ExistingUnit | undefined> => {
    const { state } = await units.load(unitStream(unitId));
    return isActiveUnit(state) ? state : undefined;
  };

  /** The units above `parentId`'s unit, nearest first. */
  const ancestorsOf = async (unit: ExistingUnit): Promise<ExistingUnit[]> => {
    const chain: ExistingUnit[] = [];
    for (let next = unit.parentId; next !== null && chain.length < MAX_DEPTH;) {
      const above = await activeUnit(next);
      if (!above) break;
      chain.push(above);
      next = above.parentId;
    }
    return chain;
  };

  /** The parent as the decider needs it; undefined when there is no such (active) unit. */
  const parentFacts = async (parentId: string): Promise<ParentFacts | undefined> => {
    const parent = await activeUnit(parentId);
    if (!parent) return undefined;
    const ancestors = await ancestorsOf(parent);
    return {
      unitId: parent.unitId,
      labId: parent.labId,
      kind: parent.kind,
      ancestorIds: ancestors.map((a) => a.unitId),
    };
  };

  return {
    activeUnit,

    async create(input: NewUnit, cause: CommandCause): Promise<string> {
      const unitId = randomUUID();
      const parent = input.parentId === undefined ? null : await parentFacts(input.parentId);
      const command = {
        type: 'CreateUnit',
        data: {
          unitId,
          labId: input.labId,
          name: input.name,
          kind: input.kind,
          grid: input.grid ?? null,
          temperatureC: input.temperatureC ?? null,
          parent,
          now: now(),
        },
      } as const;
      await units.handle(unitStream(unitId), command, cause);
      return unitId;
    },

    async change(
      unitId: string,
      changes: { name?: string | undefined; temperatureC?: number | null | undefined },
      cause: CommandCause,
    ): Promise<void> {
      await units.handle(unitStream(unitId), { type: 'ChangeUnit', data: { ...changes, now: now() } }, cause);
    },

    async move(unitId: string, parentId: string, cause: CommandCause): Promise<void> {
      const parent = await parentFacts(parentId);
      await units.handle(unitStream(unitId), { type: 'MoveUnit', data: { parent, now: now() } }, cause);
    },

    async remove(unitId: string, cause: CommandCause): Promise<void> {
      const hasChildren = await deps.hasChildren(unitId);
      await units.handle(unitStream(unitId), { type: 'RemoveUnit', data: { hasChildren, now: now() } }, cause);
    },

    /** The box's half of a placement: claims the slot for the sample (409 position_occupied when taken). */
    async claimSlot(boxId: string, position: string, sample: PlacedSample, cause: CommandCause): Promise<void> {
      // The box as loaded here is handed to the pipeline (one read of its stream; a conflict reloads).
      const known = await units.load(unitStream(boxId));
      const ancestorKinds = isActiveUnit(known.state) ? (await ancestorsOf(known.state)).map((a) => a.kind) : [];
      const command = {
        type: 'ClaimSlot',
        data: {
          position,
          sampleId: sample.id,
          sampleLabId: sample.labId,
          sampleType: sample.sampleType,
          ancestorKinds,
          now: now(),
        },
      } as const;
      await units.handle(unitStream(boxId), command, cause, { known });
    },

    /** Frees the slot the sample holds in the box, if any. */
    async releaseSlot(boxId: string, sampleId: string, reason: ReleaseReason, cause: CommandCause): Promise<void> {
      const command = { type: 'ReleaseSlot', data: { sampleId, reason, now: now() } } as const;
      await units.handle(unitStream(boxId), command, cause);
    },
  };
}

export type StorageCommands = ReturnType<typeof createStorageCommands>;
