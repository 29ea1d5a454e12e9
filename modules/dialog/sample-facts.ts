// What the assistant may know of the caller's samples: read from the samples read model (the
// module's public read side), always as the caller under row-level security and filtered by
// owner. Nothing here can reach another user's rows.
import type { Knex } from 'knex';
import { queryAsOwner } from '../../platform/database/owner-scope.ts';

export interface SampleCounts {
  readonly total: number;
  readonly byStatus: { collected: number; processing: number; archived: number };
  readonly byType: { blood: number; saliva: number; tissue: number };
}

export interface SampleLine {
  readonly id: string;
  readonly sampleType: string;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: string;
  readonly storageLocation: string | null;
}

export interface SampleFacts {
  counts(ownerId: string): Promise<SampleCounts>;
  subjectSamples(ownerId: string, subjectId: string, limit?: number): Promise<SampleLine[]>;
  recentSamples(ownerId: string, limit?: number): Promise<SampleLine[]>;
}

/** The samples read model's columns, named as a SampleLine. */
const columns =
  'sample_id AS id, sample_type AS "sampleType", subject_id AS "subjectId", ' +
  'collection_date AS "collectionDate", status, storage_location AS "storageLocation"';
const clamp = (n: number) => Math.max(1, Math.min(50, Math.floor(n)));

export function sampleFacts(knex: Knex): SampleFacts {
  return {
    async counts(ownerId) {
      const [rows] = await queryAsOwner<[Record<string, number>[]]>(knex, ownerId, [
        {
          sql: 'SELECT total, collected, processing, archived, blood, saliva, tissue FROM sample_stats WHERE owner_id = $1::uuid',
          params: [ownerId],
        },
      ]);
      const s = rows[0] ?? {};
      const n = (k: string) => s[k] ?? 0;
      return {
        total: n('total'),
        byStatus: { collected: n('collected'), processing: n('processing'), archived: n('archived') },
        byType: { blood: n('blood'), saliva: n('saliva'), tissue: n('tissue') },
      };
    },
    async subjectSamples(ownerId, subjectId, limit = 20) {
      const [rows] = await queryAsOwner<[SampleLine[]]>(knex, ownerId, [
        {
          sql: `SELECT ${columns} FROM samples WHERE owner_id = $1::uuid AND subject_id = $2 AND deleted_at IS NULL ORDER BY collection_date DESC, sample_id DESC LIMIT $3`,
          params: [ownerId, subjectId, clamp(limit)],
        },
      ]);
      return rows;
    },
    async recentSamples(ownerId, limit = 5) {
      const [rows] = await queryAsOwner<[SampleLine[]]>(knex, ownerId, [
        {
          sql: `SELECT ${columns} FROM samples WHERE owner_id = $1::uuid AND deleted_at IS NULL ORDER BY created_at DESC, sample_id DESC LIMIT $2`,
          params: [ownerId, clamp(limit)],
        },
      ]);
      return rows;
    },
  };
}
