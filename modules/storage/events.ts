// The storage module's public contract: its events as zod schemas and TS types, with their
// schema versions. A unit (freezer, refrigerator, cabinet, rack, shelf, box) is a stream; a box
// also holds its slots, so it is the one place where "one sample per slot" is decided. Every
// event names the unit's lab, so read models and the audit trail can scope it without loading
// the stream.
//
// Stream: unit-<unitId>.
import { z } from 'zod';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';

export const unitKinds = ['freezer', 'refrigerator', 'cabinet', 'rack', 'shelf', 'box'] as const;
export type UnitKind = (typeof unitKinds)[number];

/** Grid bounds: rows `A`–`Z`, columns 1–30. */
export const MAX_GRID_ROWS = 26;
export const MAX_GRID_COLUMNS = 30;
export const MAX_UNIT_NAME_LENGTH = 100;
/** Storage temperatures a lab keeps: liquid nitrogen to an incubator. */
export const MIN_TEMPERATURE_C = -273;
export const MAX_TEMPERATURE_C = 100;

/** Why a slot was let go: the sample moved, was unplaced, became final, left the lab, or a placement was undone. */
export const releaseReasons = ['moved', 'unplaced', 'final', 'transferred', 'abandoned'] as const;
export type ReleaseReason = (typeof releaseReasons)[number];

const id = z.uuid();
const timestamp = z.iso.datetime();
const name = z.string().min(1).max(MAX_UNIT_NAME_LENGTH);
const temperature = z.number().min(MIN_TEMPERATURE_C).max(MAX_TEMPERATURE_C).nullable();
export const gridSchema = z.strictObject({
  rows: z.number().int().min(1).max(MAX_GRID_ROWS),
  columns: z.number().int().min(1).max(MAX_GRID_COLUMNS),
});
export type Grid = z.infer<typeof gridSchema>;
/** A slot's name: row letter and column number, `A1` … `Z30`. */
export const positionSchema = z.string().regex(/^[A-Z](?:[1-9]|[12][0-9]|30)$/);

export const unitCreatedSchema = z.strictObject({
  unitId: id,
  labId: id,
  name,
  kind: z.enum(unitKinds),
  parentId: id.nullable(),
  grid: gridSchema.nullable(),
  temperatureC: temperature,
  createdAt: timestamp,
});

export const unitRenamedSchema = z.strictObject({
  unitId: id,
  labId: id,
  from: name,
  to: name,
  renamedAt: timestamp,
});

export const unitTemperatureSetSchema = z.strictObject({
  unitId: id,
  labId: id,
  from: temperature,
  to: temperature,
  setAt: timestamp,
});

export const unitMovedSchema = z.strictObject({
  unitId: id,
  labId: id,
  fromParentId: id,
  toParentId: id,
  movedAt: timestamp,
});

export const unitRemovedSchema = z.strictObject({
  unitId: id,
  labId: id,
  removedAt: timestamp,
});

export const slotClaimedSchema = z.strictObject({
  unitId: id,
  labId: id,
  position: positionSchema,
  sampleId: id,
  claimedAt: timestamp,
});

export const slotReleasedSchema = z.strictObject({
  unitId: id,
  labId: id,
  position: positionSchema,
  sampleId: id,
  reason: z.enum(releaseReasons),
  releasedAt: timestamp,
});

export const storageEventSchemas = {
  StorageUnitCreated: unitCreatedSchema,
  StorageUnitRenamed: unitRenamedSchema,
  StorageUnitTemperatureSet: unitTemperatureSetSchema,
  StorageUnitMoved: unitMovedSchema,
  StorageUnitRemoved: unitRemovedSchema,
  BoxSlotClaimed: slotClaimedSchema,
  BoxSlotReleased: slotReleasedSchema,
} as const;

/** The storage events' codec: type names, guard, validating parse, schema versions. */
export const storageEvents = eventCatalog(storageEventSchemas);
export type StorageEventType = keyof typeof storageEventSchemas;
export type StorageEventData<T extends StorageEventType> = z.infer<(typeof storageEventSchemas)[T]>;
export type StorageEvent = EventsOf<typeof storageEventSchemas>;

export const unitStream = (unitId: string): string => `unit-${unitId}`;
export const unitIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith('unit-') ? streamId.slice('unit-'.length) : undefined;
