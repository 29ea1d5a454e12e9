// Reads of the storage read model (projections/storage/storage-read-model.ts). Every query is
// narrowed to labs: the routes ask LabAccess first which labs the caller may see, and the SQL
// filters by them, so a unit of another lab is never read for the caller.
import type { Knex } from 'knex';
import { queryUnscoped, type SqlParam } from '../../platform/database/owner-scope.ts';
import type { Grid, UnitKind } from './events.ts';

export interface UnitView {
  readonly id: string;
  readonly labId: string;
  readonly name: string;
  readonly kind: UnitKind;
  readonly parentId: string | null;
  readonly path: string;
  readonly grid: Grid | null;
  readonly temperatureC: number | null;
  readonly capacity: number;
  readonly occupied: number;
  readonly createdAt: string;
  readonly version: number;
}

interface UnitRow {
  unit_id: string;
  lab_id: string;
  name: string;
  kind: UnitKind;
  parent_id: string | null;
  path: string;
  grid_rows: number | null;
  grid_columns: number | null;
  temperature_c: number | null;
  capacity: number;
  occupied: number;
  created_at: Date;
  version: number;
}

const columns =
  'unit_id, lab_id, name, kind, parent_id, path, grid_rows, grid_columns, temperature_c, capacity, occupied, created_at, version';

const toView = (r: UnitRow): UnitView => ({
  id: r.unit_id,
  labId: r.lab_id,
  name: r.name,
  kind: r.kind,
  parentId: r.parent_id,
  path: r.path,
  grid: r.grid_rows !== null && r.grid_columns !== null ? { rows: r.grid_rows, columns: r.grid_columns } : null,
  temperatureC: r.temperature_c,
  capacity: r.capacity,
  occupied: r.occupied,
  createdAt: new Date(r.created_at).toISOString(),
  version: r.version,
});

const uuidList = (ids: readonly string[]) => `{${ids.join(',')}}`;

/** A unit that is not removed, whatever its lab (the caller's access is checked on its labId). */
export async function getUnit(knex: Knex, unitId: string): Promise<UnitView | undefined> {
  const [rows] = await queryUnscoped<[UnitRow[]]>(knex, [
    { sql: `SELECT ${columns} FROM storage_units WHERE unit_id = $1::uuid AND removed_at IS NULL`, params: [unitId] },
  ]);
  return rows[0] ? toView(rows[0]) : undefined;
}

export interface UnitFilter {
  readonly parentId?: string | undefined;
  readonly kind?: UnitKind | undefined;
}

export interface UnitCursor {
  readonly name: string;
  readonly id: string;
}

/** Units of the given labs under one parent (top-level ones without it), by name. */
export async function listUnits(
  knex: Knex,
  labIds: readonly string[],
  filter: UnitFilter,
  page: { limit: number; after?: UnitCursor | undefined },
): Promise<{ rows: UnitView[]; total: number }> {
  if (labIds.length === 0) return { rows: [], total: 0 };
  const params: SqlParam[] = [uuidList(labIds)];
  const where = ['lab_id = ANY($1::uuid[])', 'removed_at IS NULL'];
  const add = (condition: (n: string) => string, value: SqlParam) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (filter.parentId) add((p) => `parent_id = ${p}::uuid`, filter.parentId);
  else where.push('parent_id IS NULL');
  if (filter.kind) add((p) => `kind = ${p}`, filter.kind);
  const filtered = where.join(' AND ');
  const pageParams = [...params];
  let keyset = '';
  if (page.after) {
    pageParams.push(page.after.name, page.after.id);
    keyset = ` AND (name, unit_id) > ($${pageParams.length - 1}, $${pageParams.length}::uuid)`;
  }
  pageParams.push(page.limit + 1);
  const [rows, count] = await queryUnscoped<[UnitRow[], { total: number }[]]>(knex, [
    {
      sql: `SELECT ${columns} FROM storage_units WHERE ${filtered}${keyset} ORDER BY name, unit_id LIMIT $${pageParams.length}`,
      params: pageParams,
    },
    { sql: `SELECT count(*)::int AS total FROM storage_units WHERE ${filtered}`, params },
  ]);
  return { rows: rows.map(toView), total: count[0]?.total ?? 0 };
}

/** Whether any unit that is not removed stands directly inside this one. */
export async function hasChildren(knex: Knex, unitId: string): Promise<boolean> {
  const [rows] = await queryUnscoped<[{ found: boolean }[]]>(knex, [
    {
      sql: 'SELECT EXISTS (SELECT 1 FROM storage_units WHERE parent_id = $1::uuid AND removed_at IS NULL) AS found',
      params: [unitId],
    },
  ]);
  return rows[0]?.found ?? false;
}

/** A unit (not removed) with its occupied slots (position → sample id), in one round trip. */
export async function unitWithSlots(
  knex: Knex,
  unitId: string,
): Promise<{ unit: UnitView; slots: Map<string, string> } | undefined> {
  const [units, slots] = await queryUnscoped<[UnitRow[], { position: string; sample_id: string }[]]>(knex, [
    { sql: `SELECT ${columns} FROM storage_units WHERE unit_id = $1::uuid AND removed_at IS NULL`, params: [unitId] },
    { sql: 'SELECT position, sample_id FROM storage_slots WHERE unit_id = $1::uuid', params: [unitId] },
  ]);
  if (!units[0]) return undefined;
  return { unit: toView(units[0]), slots: new Map(slots.map((r) => [r.position, r.sample_id])) };
}

export interface Place {
  readonly unitId: string;
  readonly position: string;
  /** The box's path, e.g. `Freezer A / Rack 2 / Box 7`. */
  readonly path: string;
}

/**
 * Where samples are (for a sample's `location`, `GET /samples?unitId=` and the assistant's "where
 * is TUBE-001?"): sample id → its box, position and path. A sample mid-move may briefly hold two
 * slots; the latest claim is its place.
 */
export async function placesOf(knex: Knex, sampleIds: readonly string[]): Promise<Map<string, Place>> {
  if (sampleIds.length === 0) return new Map();
  const [rows] = await queryUnscoped<[{ sample_id: string; unit_id: string; position: string; path: string }[]]>(knex, [
    {
      sql: `SELECT DISTINCT ON (s.sample_id) s.sample_id, s.unit_id, s.position, u.path
                FROM storage_slots s JOIN storage_units u ON u.unit_id = s.unit_id
               WHERE s.sample_id = ANY($1::uuid[]) ORDER BY s.sample_id, s.claimed_at DESC`,
      params: [uuidList(sampleIds)],
    },
  ]);
  return new Map(rows.map((r) => [r.sample_id, { unitId: r.unit_id, position: r.position, path: r.path }]));
}
