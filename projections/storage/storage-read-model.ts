// The storage read model: units with their paths, and the boxes' slots.
//   storage_units  one row per unit: its fields, `path` (`Freezer A / Rack 2 / Box 7`) and
//                  `ancestor_ids` (root first), kept current when a unit above is renamed or
//                  moved; `occupied` counts a box's slots in use. A removed unit keeps its row
//                  (removed_at) so a replayed creation cannot bring it back.
//   storage_slots  one row per occupied slot of a box: (unit, position) → sample.
//
// Idempotent: every unit row carries its version (events in its stream); an event at or below it
// changes nothing, and slot rows and counts move only when the unit row did, in the same transaction.
// Scoped by lab_id; the queries check the caller's lab membership before they read.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { storableText } from '../../platform/text.ts';
import { storageEvents, type StorageEvent } from '../../modules/storage/events.ts';
import { tableDdl, type Projection } from '../engine/index.ts';

export const storageProjectionName = 'storage';

const units = tableDdl(
  'unit_id',
  `unit_id       uuid NOT NULL,
  lab_id        uuid NOT NULL,
  name          text NOT NULL,
  kind          text NOT NULL,
  parent_id     uuid,
  path          text NOT NULL,
  ancestor_ids  uuid[] NOT NULL,
  grid_rows     integer,
  grid_columns  integer,
  temperature_c double precision,
  capacity      integer NOT NULL,
  occupied      integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       integer NOT NULL,
  removed_at    timestamptz`,
  (t) => `CREATE INDEX "${t}_by_parent" ON "${t}" (lab_id, parent_id, name, unit_id) WHERE removed_at IS NULL`,
  (t) => `CREATE INDEX "${t}_by_ancestor" ON "${t}" USING gin (ancestor_ids) WHERE removed_at IS NULL`,
  (t) => `GRANT SELECT ON "${t}" TO vialog_reader`,
);

const slots = tableDdl(
  'unit_id, position',
  `unit_id    uuid NOT NULL,
  position   text NOT NULL,
  sample_id  uuid NOT NULL,
  lab_id     uuid NOT NULL,
  claimed_at timestamptz NOT NULL`,
  (t) => `CREATE INDEX "${t}_by_sample" ON "${t}" (sample_id)`,
  (t) => `GRANT SELECT ON "${t}" TO vialog_reader`,
);

type Table = (logical: string) => string;

/**
 * Marks the unit as at `version` when it is below it: true when the event is new to the read
 * model (then its change is applied), false when it was applied before or the unit is unknown.
 */
async function advance(trx: Knex.Transaction, table: Table, unitId: string, version: number, at: string) {
  const r = await trx.raw<{ rowCount: number }>(
    `UPDATE "${table('storage_units')}" SET version = ?, updated_at = ? WHERE unit_id = ? AND version < ?`,
    [version, at, unitId, version],
  );
  return r.rowCount > 0;
}

/** Recomputes path and ancestors of a unit and everything below it (after a rename or move). */
async function repath(trx: Knex.Transaction, table: Table, unitId: string): Promise<void> {
  const t = table('storage_units');
  await trx.raw(
    `WITH RECURSIVE sub AS (
       SELECT u.unit_id,
              CASE WHEN p.unit_id IS NULL THEN u.name ELSE p.path || ' / ' || u.name END AS path,
              CASE WHEN p.unit_id IS NULL THEN ARRAY[]::uuid[] ELSE p.ancestor_ids || p.unit_id END AS ancestor_ids
         FROM "${t}" u LEFT JOIN "${t}" p ON p.unit_id = u.parent_id
        WHERE u.unit_id = ?
       UNION ALL
       SELECT c.unit_id, sub.path || ' / ' || c.name, sub.ancestor_ids || sub.unit_id
         FROM "${t}" c JOIN sub ON c.parent_id = sub.unit_id)
     UPDATE "${t}" u SET path = sub.path, ancestor_ids = sub.ancestor_ids FROM sub WHERE u.unit_id = sub.unit_id`,
    [unitId],
  );
}

async function create(trx: Knex.Transaction, table: Table, e: Extract<StorageEvent, { type: 'StorageUnitCreated' }>) {
  const d = e.data;
  const capacity = d.grid ? d.grid.rows * d.grid.columns : 0;
  await trx.raw(
    `INSERT INTO "${table('storage_units')}" (unit_id, lab_id, name, kind, parent_id, path, ancestor_ids, grid_rows,
       grid_columns, temperature_c, capacity, created_at, updated_at, version)
     VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, 1)
     ON CONFLICT (unit_id) DO NOTHING`,
    [
      d.unitId,
      d.labId,
      storableText(d.name),
      d.kind,
      d.parentId,
      storableText(d.name),
      d.grid?.rows ?? null,
      d.grid?.columns ?? null,
      d.temperatureC,
      capacity,
      d.createdAt,
      d.createdAt,
    ],
  );
  await repath(trx, table, d.unitId);
}

const atOf = (e: Exclude<StorageEvent, { type: 'BoxSlotClaimed' | 'BoxSlotReleased' }>): string => {
  switch (e.type) {
    case 'StorageUnitCreated':
      return e.data.createdAt;
    case 'StorageUnitRenamed':
      return e.data.renamedAt;
    case 'StorageUnitTemperatureSet':
      return e.data.setAt;
    case 'StorageUnitMoved':
      return e.data.movedAt;
    case 'StorageUnitRemoved':
      return e.data.removedAt;
  }
};

/**
 * A slot event in one statement (the hot path of placements): the unit's version guard, its count
 * and the slot row together. Events of a stream arrive in order, so a claim always meets a free
 * slot and a release a held one, and the count moves by one.
 */
async function applySlotEvent(
  trx: Knex.Transaction,
  table: Table,
  e: Extract<StorageEvent, { type: 'BoxSlotClaimed' | 'BoxSlotReleased' }>,
  version: number,
): Promise<void> {
  const units = table('storage_units');
  const slots = table('storage_slots');
  const d = e.data;
  const advance = (delta: string, at: string) => ({
    sql: `WITH adv AS (UPDATE "${units}" SET version = ?, updated_at = ?, occupied = occupied ${delta}
       WHERE unit_id = ? AND version < ? RETURNING unit_id)`,
    bindings: [version, at, d.unitId, version],
  });
  if (e.type === 'BoxSlotClaimed') {
    const a = advance('+ 1', e.data.claimedAt);
    await trx.raw(
      `${a.sql} INSERT INTO "${slots}" (unit_id, position, sample_id, lab_id, claimed_at)
       SELECT unit_id, ?, ?::uuid, ?::uuid, ?::timestamptz FROM adv
       ON CONFLICT (unit_id, position) DO UPDATE SET sample_id = EXCLUDED.sample_id, claimed_at = EXCLUDED.claimed_at`,
      [...a.bindings, d.position, d.sampleId, d.labId, e.data.claimedAt],
    );
    return;
  }
  const a = advance('- 1', e.data.releasedAt);
  await trx.raw(`${a.sql} DELETE FROM "${slots}" s USING adv WHERE s.unit_id = adv.unit_id AND s.position = ?`, [
    ...a.bindings,
    d.position,
  ]);
}

async function applyEvent(trx: Knex.Transaction, table: Table, e: StorageEvent, version: number): Promise<void> {
  if (e.type === 'StorageUnitCreated') return create(trx, table, e);
  if (e.type === 'BoxSlotClaimed' || e.type === 'BoxSlotReleased') return applySlotEvent(trx, table, e, version);
  const unitId = e.data.unitId;
  if (!(await advance(trx, table, unitId, version, atOf(e)))) return;
  const units = table('storage_units');
  switch (e.type) {
    case 'StorageUnitRenamed':
      await trx.raw(`UPDATE "${units}" SET name = ? WHERE unit_id = ?`, [storableText(e.data.to), unitId]);
      return repath(trx, table, unitId);
    case 'StorageUnitTemperatureSet':
      await trx.raw(`UPDATE "${units}" SET temperature_c = ? WHERE unit_id = ?`, [e.data.to, unitId]);
      return;
    case 'StorageUnitMoved':
      await trx.raw(`UPDATE "${units}" SET parent_id = ? WHERE unit_id = ?`, [e.data.toParentId, unitId]);
      return repath(trx, table, unitId);
    case 'StorageUnitRemoved':
      await trx.raw(`UPDATE "${units}" SET removed_at = ? WHERE unit_id = ?`, [e.data.removedAt, unitId]);
      return;
  }
}

export const storageProjection: Projection = {
  name: storageProjectionName,
  version: 1,
  eventTypes: storageEvents.types,
  tables: { storage_units: units, storage_slots: slots },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    for (const event of events) {
      if (!storageEvents.isType(event.type)) continue;
      // The unit's version after this event.
      await applyEvent(trx, table, storageEvents.parse(event.type, event.data), event.revision + 1);
    }
  },
};
