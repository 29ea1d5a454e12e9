// Pure decider of a storage unit: (command, state) -> Decision. `now`, ids and the facts of other
// streams (the parent unit and its ancestors, a sample's type and lab) come in with the command,
// gathered by commands.ts. A box owns its slots: one sample per slot is decided here, on one
// stream, so of many concurrent claims exactly one can append.
import { accept, refuse, type Decision } from '../../platform/commands/decision.ts';
import type { Decider } from '../../platform/commands/handler.ts';
import type { Grid, ReleaseReason, StorageEvent, UnitKind } from './events.ts';
import { isActiveUnit, evolveUnit, initialUnitState, slotOf, type ExistingUnit, type UnitState } from './evolve.ts';
import { isPositionIn } from './grid.ts';
import { nameProblem, nestingProblem, temperatureProblem, tissueRuleHolds, unitFieldErrors } from './rules.ts';

/** What the command side knows of a (would-be) parent unit, from its stream and its ancestors'. */
export interface ParentFacts {
  readonly unitId: string;
  readonly labId: string;
  readonly kind: UnitKind;
  /** Ids of the parent's ancestors, nearest first (to refuse a move below itself). */
  readonly ancestorIds: readonly string[];
}

export interface CreateUnit {
  readonly type: 'CreateUnit';
  readonly data: {
    readonly unitId: string;
    readonly labId: string;
    readonly name: string;
    readonly kind: UnitKind;
    readonly grid: Grid | null;
    readonly temperatureC: number | null;
    /** null: top level; undefined: a parent id was given but no such unit exists in the lab. */
    readonly parent: ParentFacts | null | undefined;
    readonly now: Date;
  };
}

export interface ChangeUnit {
  readonly type: 'ChangeUnit';
  readonly data: { readonly name?: string | undefined; readonly temperatureC?: number | null | undefined; now: Date };
}

export interface MoveUnit {
  readonly type: 'MoveUnit';
  readonly data: { readonly parent: ParentFacts | undefined; readonly now: Date };
}

export interface RemoveUnit {
  readonly type: 'RemoveUnit';
  readonly data: { readonly hasChildren: boolean; readonly now: Date };
}

export interface ClaimSlot {
  readonly type: 'ClaimSlot';
  readonly data: {
    readonly position: string;
    readonly sampleId: string;
    readonly sampleLabId: string;
    readonly sampleType: string;
    /** Kinds of the box's ancestors (for the tissue rule). */
    readonly ancestorKinds: readonly UnitKind[];
    readonly now: Date;
  };
}

export interface ReleaseSlot {
  readonly type: 'ReleaseSlot';
  readonly data: { readonly sampleId: string; readonly reason: ReleaseReason; readonly now: Date };
}

export type UnitCommand = CreateUnit | ChangeUnit | MoveUnit | RemoveUnit | ClaimSlot | ReleaseSlot;

const notFound = (): Decision<StorageEvent> => refuse({ code: 'not_found', message: 'storage unit not found' });
const invalidParent = (message: string): Decision<StorageEvent> =>
  refuse({ code: 'invalid_parent', message, errors: [{ path: 'parentId', message }] });

export function decideUnit(command: UnitCommand, state: UnitState): Decision<StorageEvent> {
  if (command.type === 'CreateUnit') return create(command.data, state);
  if (!isActiveUnit(state)) return notFound();
  switch (command.type) {
    case 'ChangeUnit':
      return change(command.data, state);
    case 'MoveUnit':
      return move(command.data, state);
    case 'RemoveUnit':
      return remove(command.data, state);
    case 'ClaimSlot':
      return claim(command.data, state);
    case 'ReleaseSlot':
      return release(command.data, state);
  }
}

function create(c: CreateUnit['data'], state: UnitState): Decision<StorageEvent> {
  if (state.status !== 'none') return refuse({ code: 'conflict', message: 'storage unit already exists' });
  const name = c.name.trim();
  const errors = unitFieldErrors({ name, kind: c.kind, grid: c.grid, temperatureC: c.temperatureC });
  if (errors.length > 0) return refuse({ code: 'validation_failed', message: 'the unit breaks some rules', errors });
  if (c.parent === undefined || (c.parent !== null && c.parent.labId !== c.labId))
    return invalidParent('no such parent unit in this lab');
  const nesting = nestingProblem(c.kind, c.parent?.kind ?? null);
  if (nesting) return invalidParent(nesting);
  return accept({
    type: 'StorageUnitCreated',
    data: {
      unitId: c.unitId,
      labId: c.labId,
      name,
      kind: c.kind,
      parentId: c.parent?.unitId ?? null,
      grid: c.grid,
      temperatureC: c.temperatureC,
      createdAt: c.now.toISOString(),
    },
  });
}

function change(c: ChangeUnit['data'], unit: ExistingUnit): Decision<StorageEvent> {
  const name = c.name?.trim();
  const errors = [
    ...(name !== undefined && nameProblem(name) ? [{ path: 'name', message: nameProblem(name)! }] : []),
    ...(c.temperatureC !== undefined && temperatureProblem(c.temperatureC)
      ? [{ path: 'temperatureC', message: temperatureProblem(c.temperatureC)! }]
      : []),
  ];
  if (errors.length > 0) return refuse({ code: 'validation_failed', message: 'the change breaks some rules', errors });
  const at = c.now.toISOString();
  const events: StorageEvent[] = [];
  if (name !== undefined && name !== unit.name)
    events.push({
      type: 'StorageUnitRenamed',
      data: { unitId: unit.unitId, labId: unit.labId, from: unit.name, to: name, renamedAt: at },
    });
  if (c.temperatureC !== undefined && c.temperatureC !== unit.temperatureC)
    events.push({
      type: 'StorageUnitTemperatureSet',
      data: { unitId: unit.unitId, labId: unit.labId, from: unit.temperatureC, to: c.temperatureC, setAt: at },
    });
  return accept(...events);
}

function move(c: MoveUnit['data'], unit: ExistingUnit): Decision<StorageEvent> {
  const parent = c.parent;
  if (parent === undefined || parent.labId !== unit.labId) return invalidParent('no such parent unit in this lab');
  if (parent.unitId === unit.unitId || parent.ancestorIds.includes(unit.unitId))
    return invalidParent('a unit cannot move into itself or below itself');
  const nesting = nestingProblem(unit.kind, parent.kind);
  if (nesting) return invalidParent(nesting);
  if (parent.unitId === unit.parentId) return accept();
  // nestingProblem refuses every parent for a top-level kind, so a moved unit always had one.
  return accept({
    type: 'StorageUnitMoved',
    data: {
      unitId: unit.unitId,
      labId: unit.labId,
      fromParentId: unit.parentId!,
      toParentId: parent.unitId,
      movedAt: c.now.toISOString(),
    },
  });
}

function remove(c: RemoveUnit['data'], unit: ExistingUnit): Decision<StorageEvent> {
  if (c.hasChildren || Object.keys(unit.slots).length > 0)
    return refuse({ code: 'not_empty', message: 'the unit still holds units or samples', status: 422 });
  return accept({
    type: 'StorageUnitRemoved',
    data: { unitId: unit.unitId, labId: unit.labId, removedAt: c.now.toISOString() },
  });
}

function claim(c: ClaimSlot['data'], box: ExistingUnit): Decision<StorageEvent> {
  if (box.kind !== 'box' || box.grid === null)
    return refuse({ code: 'not_a_box', message: 'samples are placed in boxes', status: 422 });
  if (c.sampleLabId !== box.labId)
    return refuse({ code: 'unit_of_another_lab', message: "the box is not in the sample's lab", status: 422 });
  if (!isPositionIn(c.position, box.grid))
    return refuse({
      code: 'invalid_position',
      message: `${c.position} is not a position of a ${box.grid.rows} × ${box.grid.columns} box`,
      status: 422,
      errors: [{ path: 'position', message: 'not a position of this box' }],
    });
  const holder = box.slots[c.position];
  if (holder === c.sampleId) return accept();
  if (holder !== undefined)
    return refuse({ code: 'position_occupied', message: `${c.position} holds another sample`, status: 409 });
  if (!tissueRuleHolds({ sampleType: c.sampleType, storageLocation: null, placeAncestorKinds: c.ancestorKinds }))
    return refuse({ code: 'tissue_outside_freezer', message: 'a tissue sample must be in a freezer', status: 422 });
  const at = c.now.toISOString();
  const events: StorageEvent[] = [];
  const previous = slotOf(box, c.sampleId);
  // A move within the box frees the old slot in the same append.
  if (previous !== undefined)
    events.push({
      type: 'BoxSlotReleased',
      data: {
        unitId: box.unitId,
        labId: box.labId,
        position: previous,
        sampleId: c.sampleId,
        reason: 'moved',
        releasedAt: at,
      },
    });
  events.push({
    type: 'BoxSlotClaimed',
    data: { unitId: box.unitId, labId: box.labId, position: c.position, sampleId: c.sampleId, claimedAt: at },
  });
  return accept(...events);
}

function release(c: ReleaseSlot['data'], box: ExistingUnit): Decision<StorageEvent> {
  const position = slotOf(box, c.sampleId);
  if (position === undefined) return accept();
  return accept({
    type: 'BoxSlotReleased',
    data: {
      unitId: box.unitId,
      labId: box.labId,
      position,
      sampleId: c.sampleId,
      reason: c.reason,
      releasedAt: c.now.toISOString(),
    },
  });
}

export const unitDecider: Decider<UnitCommand, UnitState, StorageEvent> = {
  decide: decideUnit,
  evolve: evolveUnit,
  initialState: initialUnitState,
};
