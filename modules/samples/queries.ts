// Reads of the samples read model (projections/samples/samples-read-model.ts). Every query runs
// as the caller under row-level security (queryAsOwner) and filters by owner as well: two locks
// on the same door, because a leaked sample is the bug clinical systems ship.
import type { Knex } from 'knex';
import { queryAsOwner, type SqlParam } from '../../platform/database/owner-scope.ts';
import type { SampleStatus, SampleType } from './events.ts';

export interface SampleView {
  readonly id: string;
  readonly sampleType: SampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: SampleStatus;
  readonly storageLocation: string | null;
  readonly notes: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

interface SampleRow {
  sample_id: string;
  sample_type: SampleType;
  subject_id: string;
  collection_date: string;
  status: SampleStatus;
  storage_location: string | null;
  notes: string | null;
  created_at: Date;
  updated_at: Date;
  version: number;
}

const columns =
  'sample_id, sample_type, subject_id, collection_date, status, storage_location, notes, created_at, updated_at, version';

export const toSampleView = (r: SampleRow): SampleView => ({
  id: r.sample_id,
  sampleType: r.sample_type,
  subjectId: r.subject_id,
  collectionDate: r.collection_date,
  status: r.status,
  storageLocation: r.storage_location,
  notes: r.notes,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  version: r.version,
});

export async function getSample(knex: Knex, ownerId: string, sampleId: string): Promise<SampleView | undefined> {
  const [rows] = await queryAsOwner<[SampleRow[]]>(knex, ownerId, [
    {
      sql: `SELECT ${columns} FROM samples WHERE owner_id = $1::uuid AND sample_id = $2::uuid AND deleted_at IS NULL`,
      params: [ownerId, sampleId],
    },
  ]);
  const row = rows[0];
  return row ? toSampleView(row) : undefined;
}

export interface SampleFilter {
  readonly status?: SampleStatus | undefined;
  readonly sampleType?: SampleType | undefined;
  readonly subjectId?: string | undefined;
  readonly collectedFrom?: string | undefined;
  readonly collectedTo?: string | undefined;
}

export interface SampleCursor {
  readonly collectionDate: string;
  readonly id: string;
}

/** Newest collection first, keyset-paginated on (collection date, id): stable while rows are added. */
export async function listSamples(
  knex: Knex,
  ownerId: string,
  filter: SampleFilter,
  page: { limit: number; after?: SampleCursor | undefined },
): Promise<{ rows: SampleView[]; total: number }> {
  const params: SqlParam[] = [ownerId];
  const where = ['owner_id = $1::uuid', 'deleted_at IS NULL'];
  const add = (condition: (n: string) => string, value: SqlParam) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (filter.status) add((p) => `status = ${p}`, filter.status);
  if (filter.sampleType) add((p) => `sample_type = ${p}`, filter.sampleType);
  if (filter.subjectId) add((p) => `subject_id = ${p}`, filter.subjectId);
  if (filter.collectedFrom) add((p) => `collection_date >= ${p}::date`, filter.collectedFrom);
  if (filter.collectedTo) add((p) => `collection_date <= ${p}::date`, filter.collectedTo);
  const filtered = where.join(' AND ');
  const pageParams = [...params];
  let keyset = '';
  if (page.after) {
    pageParams.push(page.after.collectionDate, page.after.id);
    keyset = ` AND (collection_date, sample_id) < ($${pageParams.length - 1}::date, $${pageParams.length}::uuid)`;
  }
  pageParams.push(page.limit + 1);
  const [rows, count] = await queryAsOwner<[SampleRow[], { total: number }[]]>(knex, ownerId, [
    {
      sql: `SELECT ${columns} FROM samples WHERE ${filtered}${keyset} ORDER BY collection_date DESC, sample_id DESC LIMIT $${pageParams.length}`,
      params: pageParams,
    },
    countStatement(filter, filtered, params),
  ]);
  return { rows: rows.map(toSampleView), total: count[0]?.total ?? 0 };
}

/**
 * The list's total: from the pre-aggregated statistics when the filter is one they keep (none,
 * one status, or one type), otherwise counted (an index range of one owner's rows).
 */
function countStatement(
  filter: SampleFilter,
  filtered: string,
  params: SqlParam[],
): { sql: string; params: SqlParam[] } {
  const narrowing = [filter.subjectId, filter.collectedFrom, filter.collectedTo].some((v) => v !== undefined);
  const column = filter.status && filter.sampleType ? undefined : (filter.status ?? filter.sampleType ?? 'total');
  if (!narrowing && column !== undefined) {
    return {
      sql: `SELECT COALESCE((SELECT "${column}" FROM sample_stats WHERE owner_id = $1::uuid), 0)::int AS total`,
      params: [params[0]!],
    };
  }
  return { sql: `SELECT count(*)::int AS total FROM samples WHERE ${filtered}`, params };
}

export interface SampleOverview {
  readonly total: number;
  readonly byStatus: Record<SampleStatus, number>;
  readonly byType: Record<SampleType, number>;
  readonly collectedLast30Days: number;
}

/** Pre-aggregated: one row plus at most 30 daily rows, however many samples there are. */
export async function sampleOverview(knex: Knex, ownerId: string, today: string): Promise<SampleOverview> {
  const [stats, recent] = await queryAsOwner<[Record<string, number>[], { samples: number }[]]>(knex, ownerId, [
    {
      sql: 'SELECT total, collected, processing, archived, blood, saliva, tissue FROM sample_stats WHERE owner_id = $1::uuid',
      params: [ownerId],
    },
    {
      sql: `SELECT COALESCE(sum(samples), 0)::int AS samples FROM sample_daily_counts
             WHERE owner_id = $1::uuid AND collection_date > $2::date - 30 AND collection_date <= $2::date`,
      params: [ownerId, today],
    },
  ]);
  const s = stats[0] ?? {};
  const n = (key: string) => s[key] ?? 0;
  return {
    total: n('total'),
    byStatus: { collected: n('collected'), processing: n('processing'), archived: n('archived') },
    byType: { blood: n('blood'), saliva: n('saliva'), tissue: n('tissue') },
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
