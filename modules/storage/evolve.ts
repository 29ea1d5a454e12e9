// Pure evolver of a unit's stream (unit-<id>), with its initial state. A box's state holds its
// slots: position → sample id.
import type { Grid, StorageEvent, UnitKind } from './events.ts';

export interface UnitDetails {
  readonly unitId: string;
  readonly labId: string;
  readonly name: string;
  readonly kind: UnitKind;
  readonly parentId: string | null;
  readonly grid: Grid | null;
  readonly temperatureC: number | null;
  /** position → sample id (boxes only). */
  readonly slots: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Events in the stream so far. */
  readonly version: number;
}

export type ExistingUnit = { readonly status: 'active' | 'removed' } & UnitDetails;
export type UnitState = { readonly status: 'none' } | ExistingUnit;

export const initialUnitState = (): UnitState => ({ status: 'none' });

export const unitExists = (s: UnitState): s is ExistingUnit => s.status !== 'none';
export const isActiveUnit = (s: UnitState): s is ExistingUnit => s.status === 'active';

/** The slot a sample holds in this box, if any. */
export const slotOf = (state: UnitState, sampleId: string): string | undefined =>
  unitExists(state) ? Object.keys(state.slots).find((p) => state.slots[p] === sampleId) : undefined;

export function evolveUnit(state: UnitState, event: StorageEvent): UnitState {
  if (event.type === 'StorageUnitCreated') {
    const d = event.data;
    return {
      status: 'active',
      unitId: d.unitId,
      labId: d.labId,
      name: d.name,
      kind: d.kind,
      parentId: d.parentId,
      grid: d.grid,
      temperatureC: d.temperatureC,
      slots: {},
      createdAt: d.createdAt,
      updatedAt: d.createdAt,
      version: 1,
    };
  }
  if (!unitExists(state)) return state;
  const version = state.version + 1;
  switch (event.type) {
    case 'StorageUnitRenamed':
      return { ...state, name: event.data.to, updatedAt: event.data.renamedAt, version };
    case 'StorageUnitTemperatureSet':
      return { ...state, temperatureC: event.data.to, updatedAt: event.data.setAt, version };
    case 'StorageUnitMoved':
      return { ...state, parentId: event.data.toParentId, updatedAt: event.data.movedAt, version };
    case 'StorageUnitRemoved':
      return { ...state, status: 'removed', updatedAt: event.data.removedAt, version };
    case 'BoxSlotClaimed':
      return {
        ...state,
        slots: { ...state.slots, [event.data.position]: event.data.sampleId },
        updatedAt: event.data.claimedAt,
        version,
      };
    case 'BoxSlotReleased': {
      const { [event.data.position]: _released, ...slots } = state.slots;
      return { ...state, slots, updatedAt: event.data.releasedAt, version };
    }
  }
}
