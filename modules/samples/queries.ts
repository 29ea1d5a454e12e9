// Reads of the samples read model (projections/samples/samples-read-model.ts). Every query runs
// as the caller under row-level security keyed on the caller's labs (queryInScope: the labs are
// read from the labs read model in the same transaction, so a membership change counts on the
// very next request, on every instance) and filters by those labs as well: two locks on the same
// door, because a leaked sample is the bug clinical systems ship.
import type { Knex } from 'knex';
import {
  inCallerScope,
  queryAsOwner,
  queryInScope,
  type SqlParam,
  type Statement,
} from '../../platform/database/owner-scope.ts';
import type { LabRole } from './decide.ts';
import { sampleStatuses, sampleTypes, type SampleStatus, type SampleType } from './events.ts';
import { normaliseBarcode } from './physical/barcode.ts';
import type { Quantity } from './physical/quantity.ts';
import type { Lineage } from './physical/status.ts';

/**
 * The caller's labs as comma-separated ids: their personal lab (whose id is theirs, so it counts
 * from the first request after registration) and every lab they are a member of; narrowed to
 * `labId` when given (nothing when the caller is not a member of it). Written without a UNION,
 * which cost more to plan than the rest of the scope.
 */
export const labScope = (userId: string, labId?: string): Statement =>
  labId === undefined
    ? {
        sql: `SELECT concat_ws(',', $1::uuid::text,
                (SELECT string_agg(lab_id::text, ',') FROM lab_members WHERE user_id = $1::uuid AND lab_id <> $1::uuid))`,
        params: [userId],
      }
    : {
        sql: `SELECT $2::uuid::text WHERE $2::uuid = $1::uuid
                OR EXISTS (SELECT 1 FROM lab_members WHERE user_id = $1::uuid AND lab_id = $2::uuid)`,
        params: [userId, labId],
      };

/** The caller's role in a lab (undefined: not a member), read afresh. */
export async function roleIn(knex: Knex, userId: string, labId: string): Promise<LabRole | undefined> {
  if (labId === userId) return 'manager';
  const row = await knex('lab_members')
    .where({ lab_id: labId, user_id: userId })
    .first<{ role: LabRole } | undefined>('role');
  return row?.role;
}

export interface SampleView {
  readonly id: string;
  readonly labId: string;
  readonly sampleType: SampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: SampleStatus;
  readonly storageLocation: string | null;
  readonly notes: string | null;
  readonly barcode: string | null;
  readonly quantity: Quantity | null;
  readonly remaining: Quantity | null;
  readonly lineage: Lineage;
  readonly parentId: string | null;
  readonly freezeThawCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

interface SampleRow {
  sample_id: string;
  lab_id: string;
  sample_type: SampleType;
  subject_id: string;
  collection_date: string;
  status: SampleStatus;
  storage_location: string | null;
  notes: string | null;
  barcode: string | null;
  quantity: Quantity | null;
  remaining: Quantity | null;
  lineage: Lineage;
  parent_id: string | null;
  freeze_thaw_count: number;
  created_at: Date;
  updated_at: Date;
  version: number;
}

const columns =
  'sample_id, lab_id, sample_type, subject_id, collection_date, status, storage_location, notes, barcode, quantity, remaining, lineage, parent_id, freeze_thaw_count, created_at, updated_at, version';

export const toSampleView = (r: SampleRow): SampleView => ({
  id: r.sample_id,
  labId: r.lab_id,
  sampleType: r.sample_type,
  subjectId: r.subject_id,
  collectionDate: r.collection_date,
  status: r.status,
  storageLocation: r.storage_location,
  notes: r.notes,
  barcode: r.barcode,
  quantity: r.quantity,
  remaining: r.remaining,
  lineage: r.lineage,
  parentId: r.parent_id,
  freezeThawCount: r.freeze_thaw_count,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  version: r.version,
});

export async function getSample(knex: Knex, userId: string, sampleId: string): Promise<SampleView | undefined> {
  const [, rows] = await queryInScope<[SampleRow[]]>(knex, userId, labScope(userId), [
    {
      sql: `SELECT ${columns} FROM samples WHERE ${inCallerScope()} AND sample_id = $1::uuid AND deleted_at IS NULL`,
      params: [sampleId],
    },
  ]);
  const row = rows[0];
  return row ? toSampleView(row) : undefined;
}

/** The samples of the caller's labs that carry this barcode (case-insensitive; one per lab at most). */
export async function samplesByBarcode(knex: Knex, userId: string, barcode: string): Promise<SampleView[]> {
  const [, rows] = await queryInScope<[SampleRow[]]>(knex, userId, labScope(userId), [
    {
      sql: `SELECT ${columns} FROM samples WHERE ${inCallerScope()} AND barcode_key = $1 AND deleted_at IS NULL ORDER BY created_at, sample_id`,
      params: [normaliseBarcode(barcode)],
    },
  ]);
  return rows.map(toSampleView);
}

/** The samples of the caller's labs among these ids (missing ones are not visible or do not exist). */
export async function samplesByIds(knex: Knex, userId: string, ids: readonly string[]): Promise<SampleView[]> {
  if (ids.length === 0) return [];
  const [, rows] = await queryInScope<[SampleRow[]]>(knex, userId, labScope(userId), [
    {
      sql: `SELECT ${columns} FROM samples WHERE ${inCallerScope()} AND sample_id = ANY(string_to_array($1, ',')::uuid[]) AND deleted_at IS NULL`,
      params: [[...new Set(ids)].join(',')],
    },
  ]);
  return rows.map(toSampleView);
}

/** Every sample of one subject in the caller's labs, newest collection first (at most `limit`). */
export async function samplesOfSubject(
  knex: Knex,
  userId: string,
  subjectId: string,
  limit: number,
): Promise<SampleView[]> {
  const [, rows] = await queryInScope<[SampleRow[]]>(knex, userId, labScope(userId), [
    {
      sql: `SELECT ${columns} FROM samples WHERE ${inCallerScope()} AND subject_id = $1 AND deleted_at IS NULL
            ORDER BY collection_date DESC, sample_id DESC LIMIT $2`,
      params: [subjectId, limit],
    },
  ]);
  return rows.map(toSampleView);
}

/**
 * A sample's family in the caller's labs: its ancestors and every descendant (recursive on
 * parent_id; RLS keeps every step inside the caller's labs). Empty when the sample is not visible.
 */
export async function sampleFamily(knex: Knex, userId: string, sampleId: string): Promise<SampleView[]> {
  const [, rows] = await queryInScope<[SampleRow[]]>(knex, userId, labScope(userId), [
    {
      sql: `WITH RECURSIVE
              up AS (SELECT sample_id, parent_id FROM samples WHERE sample_id = $1::uuid AND ${inCallerScope()}
                     UNION SELECT s.sample_id, s.parent_id FROM samples s JOIN up ON s.sample_id = up.parent_id),
              down AS (SELECT sample_id FROM samples WHERE sample_id = $1::uuid AND ${inCallerScope()}
                       UNION SELECT s.sample_id FROM samples s JOIN down ON s.parent_id = down.sample_id)
            SELECT ${columns} FROM samples
             WHERE ${inCallerScope()} AND deleted_at IS NULL
               AND sample_id IN (SELECT sample_id FROM up UNION SELECT sample_id FROM down)`,
      params: [sampleId],
    },
  ]);
  return rows.map(toSampleView);
}

export interface SampleFilter {
  /** One of the caller's labs; absent: all of them. */
  readonly labId?: string | undefined;
  readonly status?: SampleStatus | undefined;
  readonly sampleType?: SampleType | undefined;
  readonly subjectId?: string | undefined;
  readonly collectedFrom?: string | undefined;
  readonly collectedTo?: string | undefined;
  /** Only these samples (e.g. those in a storage unit and below it). */
  readonly sampleIds?: readonly string[] | undefined;
}

export interface SampleCursor {
  readonly collectionDate: string;
  readonly id: string;
}

/**
 * Newest collection first, keyset-paginated on (collection date, id): stable while rows are added.
 * `undefined` when the filter names a lab the caller is not a member of.
 */
export async function listSamples(
  knex: Knex,
  userId: string,
  filter: SampleFilter,
  page: { limit: number; after?: SampleCursor | undefined },
): Promise<{ rows: SampleView[]; total: number } | undefined> {
  const params: SqlParam[] = [];
  const where = [inCallerScope(), 'deleted_at IS NULL'];
  const add = (condition: (n: string) => string, value: SqlParam) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (filter.status) add((p) => `status = ${p}`, filter.status);
  if (filter.sampleType) add((p) => `sample_type = ${p}`, filter.sampleType);
  if (filter.subjectId) add((p) => `subject_id = ${p}`, filter.subjectId);
  if (filter.collectedFrom) add((p) => `collection_date >= ${p}::date`, filter.collectedFrom);
  if (filter.collectedTo) add((p) => `collection_date <= ${p}::date`, filter.collectedTo);
  if (filter.sampleIds) add((p) => `sample_id = ANY(${p}::uuid[])`, `{${filter.sampleIds.join(',')}}`);
  const filtered = where.join(' AND ');
  const pageParams = [...params];
  let keyset = '';
  if (page.after) {
    pageParams.push(page.after.collectionDate, page.after.id);
    keyset = ` AND (collection_date, sample_id) < ($${pageParams.length - 1}::date, $${pageParams.length}::uuid)`;
  }
  pageParams.push(page.limit + 1);
  const [scope, rows, count] = await queryInScope<[SampleRow[], { total: number }[]]>(
    knex,
    userId,
    labScope(userId, filter.labId),
    [
      {
        sql: `SELECT ${columns} FROM samples WHERE ${filtered}${keyset} ORDER BY collection_date DESC, sample_id DESC LIMIT $${pageParams.length}`,
        params: pageParams,
      },
      countStatement(filter, filtered, params),
    ],
  );
  if (filter.labId !== undefined && !scope[0]?.scope) return undefined;
  return { rows: rows.map(toSampleView), total: count[0]?.total ?? 0 };
}

/**
 * The list's total: from the pre-aggregated statistics of the caller's labs when the filter is
 * one they keep (none, one status, or one type), otherwise counted (index ranges of those labs).
 */
function countStatement(filter: SampleFilter, filtered: string, params: SqlParam[]): Statement {
  const narrowing = [filter.subjectId, filter.collectedFrom, filter.collectedTo, filter.sampleIds].some(
    (v) => v !== undefined,
  );
  const column = filter.status && filter.sampleType ? undefined : (filter.status ?? filter.sampleType ?? 'total');
  if (!narrowing && column !== undefined) {
    return { sql: `SELECT COALESCE(sum("${column}"), 0)::int AS total FROM sample_stats WHERE ${inCallerScope()}` };
  }
  return { sql: `SELECT count(*)::int AS total FROM samples WHERE ${filtered}`, params };
}

export interface SampleOverview {
  readonly total: number;
  readonly byStatus: Record<SampleStatus, number>;
  readonly byType: Record<SampleType, number>;
  readonly collectedLast30Days: number;
}

/**
 * Pre-aggregated: one row per lab of the caller plus at most 30 daily rows per lab, however many
 * samples there are. `undefined` when `labId` names a lab the caller is not a member of.
 */
export async function sampleOverview(
  knex: Knex,
  userId: string,
  today: string,
  labId?: string,
): Promise<SampleOverview | undefined> {
  const sum = (c: string) => `COALESCE(sum(${c}), 0)::int AS ${c}`;
  const kept = ['total', ...sampleStatuses, ...sampleTypes];
  const [scope, stats, recent] = await queryInScope<[Record<string, number>[], { samples: number }[]]>(
    knex,
    userId,
    labScope(userId, labId),
    [
      { sql: `SELECT ${kept.map(sum).join(', ')} FROM sample_stats WHERE ${inCallerScope()}` },
      {
        sql: `SELECT COALESCE(sum(samples), 0)::int AS samples FROM sample_daily_counts
               WHERE ${inCallerScope()} AND collection_date > $1::date - 30 AND collection_date <= $1::date`,
        params: [today],
      },
    ],
  );
  if (labId !== undefined && !scope[0]?.scope) return undefined;
  const s = stats[0] ?? {};
  const n = (key: string) => s[key] ?? 0;
  return {
    total: n('total'),
    byStatus: Object.fromEntries(sampleStatuses.map((k) => [k, n(k)])) as Record<SampleStatus, number>,
    byType: Object.fromEntries(sampleTypes.map((k) => [k, n(k)])) as Record<SampleType, number>,
    collectedLast30Days: recent[0]?.samples ?? 0,
  };
}

/** Usernames of the given users (for history), as the samples read model knows them. */
export async function actorNames(
  knex: Knex,
  ownerId: string,
  userIds: readonly string[],
): Promise<Map<string, string | null>> {
  const ids = [...new Set(userIds)].filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  if (ids.length === 0) return new Map();
  const [rows] = await queryAsOwner<[{ user_id: string; username: string | null }[]]>(knex, ownerId, [
    {
      sql: `SELECT user_id, username FROM sample_actors WHERE user_id IN (${ids.map((_, i) => `$${i + 1}::uuid`).join(', ')})`,
      params: ids,
    },
  ]);
  return new Map(rows.map((r) => [r.user_id, r.username]));
}
