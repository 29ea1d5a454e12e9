// What the assistant may know of the samples of the caller's labs: read from the samples and labs
// read models (the modules' public read side), always as the caller under row-level security
// keyed on their labs and filtered by them. Nothing here can reach a lab the caller is not in.
import type { Knex } from 'knex';
import { inCallerScope, queryInScope, type Statement } from '../../platform/database/owner-scope.ts';

/** The caller's labs: their personal lab (its id is theirs) and every lab they are a member of. */
const callerLabs = (userId: string): Statement => ({
  sql: `SELECT string_agg(l::text, ',') FROM (SELECT $1::uuid AS l UNION SELECT lab_id FROM lab_members WHERE user_id = $1::uuid) s`,
  params: [userId],
});

export interface SampleCounts {
  readonly total: number;
  readonly byStatus: { collected: number; processing: number; archived: number };
  readonly byType: { blood: number; saliva: number; tissue: number };
  /** The same total per lab of the caller, so an answer can say which lab. */
  readonly byLab: { labId: string; lab: string; total: number }[];
}

export interface SampleLine {
  readonly id: string;
  /** The name of the lab the sample belongs to. */
  readonly lab: string;
  readonly sampleType: string;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: string;
  readonly storageLocation: string | null;
}

export interface Amount {
  readonly value: number;
  readonly unit: string;
}

/** A sample as a tube: its barcode, lineage and amounts. */
export interface PhysicalLine extends SampleLine {
  readonly barcode: string | null;
  readonly lineage: string;
  readonly parentId: string | null;
  readonly quantity: Amount | null;
  readonly remaining: Amount | null;
}

export interface SampleFacts {
  counts(ownerId: string): Promise<SampleCounts>;
  subjectSamples(ownerId: string, subjectId: string, limit?: number): Promise<SampleLine[]>;
  recentSamples(ownerId: string, limit?: number): Promise<SampleLine[]>;
  /** The samples with this id or barcode (case-insensitive) in the caller's labs, oldest first. */
  findSamples(ownerId: string, ref: string): Promise<PhysicalLine[]>;
  /** The sample's ancestors in the caller's labs, root first (the chain stops at one they cannot see). */
  ancestors(ownerId: string, sampleId: string): Promise<PhysicalLine[]>;
}

interface Row {
  sample_id: string;
  lab_name: string | null;
  sample_type: string;
  subject_id: string;
  collection_date: string;
  status: string;
  storage_location: string | null;
}

const line = (r: Row): SampleLine => ({
  id: r.sample_id,
  lab: r.lab_name ?? 'Personal lab',
  sampleType: r.sample_type,
  subjectId: r.subject_id,
  collectionDate: r.collection_date,
  status: r.status,
  storageLocation: r.storage_location,
});
interface PhysicalRow extends Row {
  barcode: string | null;
  lineage: string;
  parent_id: string | null;
  quantity: Amount | null;
  remaining: Amount | null;
}

const physicalLine = (r: PhysicalRow): PhysicalLine => ({
  ...line(r),
  barcode: r.barcode,
  lineage: r.lineage,
  parentId: r.parent_id,
  quantity: r.quantity,
  remaining: r.remaining,
});
const columns =
  's.sample_id, l.name AS lab_name, s.sample_type, s.subject_id, s.collection_date, s.status, s.storage_location';
const physicalColumns = `${columns}, s.barcode, s.lineage, s.parent_id, s.quantity, s.remaining`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How deep a lineage is followed (an aliquot of an aliquot of ...). */
const MAX_GENERATIONS = 50;
const fromSamples = `samples s LEFT JOIN labs l ON l.lab_id = s.lab_id WHERE s.${inCallerScope()} AND s.deleted_at IS NULL`;
const clamp = (n: number) => Math.max(1, Math.min(50, Math.floor(n)));

export function sampleFacts(knex: Knex): SampleFacts {
  return {
    async counts(userId) {
      const [, rows] = await queryInScope<[(Record<string, number> & { lab_id: string; lab_name: string | null })[]]>(
        knex,
        userId,
        callerLabs(userId),
        [
          {
            sql: `SELECT st.lab_id, l.name AS lab_name, st.total, st.collected, st.processing, st.archived, st.blood, st.saliva, st.tissue
                    FROM sample_stats st LEFT JOIN labs l ON l.lab_id = st.lab_id
                   WHERE st.${inCallerScope()} AND st.total > 0 ORDER BY st.total DESC, st.lab_id`,
          },
        ],
      );
      const n = (k: string) => rows.reduce((sum, r) => sum + (r[k] ?? 0), 0);
      return {
        total: n('total'),
        byStatus: { collected: n('collected'), processing: n('processing'), archived: n('archived') },
        byType: { blood: n('blood'), saliva: n('saliva'), tissue: n('tissue') },
        byLab: rows.map((r) => ({ labId: r.lab_id, lab: r.lab_name ?? 'Personal lab', total: r.total ?? 0 })),
      };
    },
    async subjectSamples(userId, subjectId, limit = 20) {
      const [, rows] = await queryInScope<[Row[]]>(knex, userId, callerLabs(userId), [
        {
          sql: `SELECT ${columns} FROM ${fromSamples} AND s.subject_id = $1 ORDER BY s.collection_date DESC, s.sample_id DESC LIMIT $2`,
          params: [subjectId, clamp(limit)],
        },
      ]);
      return rows.map(line);
    },
    async recentSamples(userId, limit = 5) {
      const [, rows] = await queryInScope<[Row[]]>(knex, userId, callerLabs(userId), [
        {
          sql: `SELECT ${columns} FROM ${fromSamples} ORDER BY s.created_at DESC, s.sample_id DESC LIMIT $1`,
          params: [clamp(limit)],
        },
      ]);
      return rows.map(line);
    },
    async findSamples(userId, ref) {
      const byId = UUID.test(ref) ? `s.sample_id = $1::uuid OR ` : '';
      const [, rows] = await queryInScope<[PhysicalRow[]]>(knex, userId, callerLabs(userId), [
        {
          sql: `SELECT ${physicalColumns} FROM ${fromSamples} AND (${byId}s.barcode_key = upper($2))
                 ORDER BY s.created_at, s.sample_id LIMIT 10`,
          params: [UUID.test(ref) ? ref : null, ref],
        },
      ]);
      return rows.map(physicalLine);
    },
    async ancestors(userId, sampleId) {
      const [, rows] = await queryInScope<[PhysicalRow[]]>(knex, userId, callerLabs(userId), [
        {
          sql: `WITH RECURSIVE up(sample_id, parent_id, depth) AS (
                  SELECT s.sample_id, s.parent_id, 0 FROM samples s WHERE s.sample_id = $1::uuid AND s.${inCallerScope()}
                  UNION ALL
                  SELECT s.sample_id, s.parent_id, up.depth + 1 FROM up JOIN samples s ON s.sample_id = up.parent_id
                   WHERE s.${inCallerScope()} AND s.deleted_at IS NULL AND up.depth < $2)
                SELECT ${physicalColumns} FROM up, ${fromSamples} AND s.sample_id = up.sample_id AND up.depth > 0
                 ORDER BY up.depth DESC`,
          params: [sampleId, MAX_GENERATIONS],
        },
      ]);
      return rows.map(physicalLine);
    },
  };
}
