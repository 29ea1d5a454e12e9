// The samples read model: per-user tables under row-level security (owner_id), maintained
// incrementally so no query ever counts rows at request time.
//   samples              one row per sample; a discarded one keeps its row (deleted_at) so a
//                        replayed registration cannot bring it back
//   sample_stats         per owner: total, by status, by type
//   sample_daily_counts  per owner and collection date: feeds "collected in the last 30 days"
//                        (at most 31 rows summed, whatever the number of samples)
//   sample_actors        user id → username, from identity events, for the history's actor names
//
// Idempotent: every sample row carries its version (events in the stream); an event at or below
// it changes nothing, and the statistics move only when the row did, in the same transaction.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { ownerPolicy } from '../../platform/database/owner-scope.ts';
import { isSampleEventType, parseSampleEvent, sampleEventTypes, type SampleEvent, type SampleStatus, type SampleType } from '../../modules/samples/events.ts';
import { parseIdentityEvent } from '../../modules/identity/events.ts';
import type { Projection } from '../engine/index.ts';

export const samplesProjectionName = 'samples';

const samples = (t: string) => `CREATE TABLE "${t}" (
  sample_id        uuid CONSTRAINT "${t}_pkey" PRIMARY KEY,
  owner_id         uuid NOT NULL,
  sample_type      text NOT NULL,
  subject_id       text NOT NULL,
  collection_date  date NOT NULL,
  status           text NOT NULL,
  storage_location text,
  notes            text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  version          integer NOT NULL,
  deleted_at       timestamptz);
CREATE INDEX "${t}_by_date" ON "${t}" (owner_id, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX "${t}_by_status" ON "${t}" (owner_id, status, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX "${t}_by_type" ON "${t}" (owner_id, sample_type, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX "${t}_by_subject" ON "${t}" (owner_id, subject_id, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL;
${ownerPolicy(t)}`;

const stats = (t: string) => `CREATE TABLE "${t}" (
  owner_id   uuid CONSTRAINT "${t}_pkey" PRIMARY KEY,
  total      integer NOT NULL DEFAULT 0,
  collected  integer NOT NULL DEFAULT 0,
  processing integer NOT NULL DEFAULT 0,
  archived   integer NOT NULL DEFAULT 0,
  blood      integer NOT NULL DEFAULT 0,
  saliva     integer NOT NULL DEFAULT 0,
  tissue     integer NOT NULL DEFAULT 0);
${ownerPolicy(t)}`;

const daily = (t: string) => `CREATE TABLE "${t}" (
  owner_id        uuid NOT NULL,
  collection_date date NOT NULL,
  samples         integer NOT NULL,
  CONSTRAINT "${t}_pkey" PRIMARY KEY (owner_id, collection_date));
${ownerPolicy(t)}`;

const actors = (t: string) => `CREATE TABLE "${t}" (
  user_id  uuid CONSTRAINT "${t}_pkey" PRIMARY KEY,
  username text);
GRANT SELECT ON "${t}" TO vialog_reader`;

type Table = (logical: string) => string;
type Counts = Partial<Record<'total' | SampleStatus | SampleType, number>>;

async function addToStats(trx: Knex.Transaction, table: Table, ownerId: string, counts: Counts): Promise<void> {
  const columns = ['total', 'collected', 'processing', 'archived', 'blood', 'saliva', 'tissue'] as const;
  const values = columns.map((c) => counts[c] ?? 0);
  const t = table('sample_stats');
  await trx.raw(
    `INSERT INTO "${t}" AS s (owner_id, ${columns.join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})
     ON CONFLICT (owner_id) DO UPDATE SET ${columns.map((c) => `${c} = s.${c} + EXCLUDED.${c}`).join(', ')}`,
    [ownerId, ...values],
  );
}

async function addToDay(trx: Knex.Transaction, table: Table, ownerId: string, date: string, delta: number): Promise<void> {
  const t = table('sample_daily_counts');
  await trx.raw(
    `INSERT INTO "${t}" AS d (owner_id, collection_date, samples) VALUES (?, ?::date, ?)
     ON CONFLICT (owner_id, collection_date) DO UPDATE SET samples = d.samples + EXCLUDED.samples`,
    [ownerId, date, delta],
  );
}

/** Updates the sample row only if this event is newer than it; returns the row as it was before, or undefined. */
async function advance(
  trx: Knex.Transaction,
  table: Table,
  sampleId: string,
  version: number,
  set: Record<string, string | null>,
): Promise<{ status: SampleStatus; sample_type: SampleType; collection_date: string } | undefined> {
  const t = table('samples');
  const assignments = Object.keys(set).map((column) => `"${column}" = ?`);
  const result = await trx.raw<{ rows: { status: SampleStatus; sample_type: SampleType; collection_date: string }[] }>(
    `WITH before AS (SELECT sample_id, status, sample_type, collection_date FROM "${t}" WHERE sample_id = ? AND version < ? AND deleted_at IS NULL FOR UPDATE)
     UPDATE "${t}" s SET ${[...assignments, 'version = ?'].join(', ')} FROM before WHERE s.sample_id = before.sample_id
     RETURNING before.status, before.sample_type, before.collection_date`,
    [sampleId, version, ...Object.values(set), version],
  );
  return result.rows[0];
}

async function applySample(trx: Knex.Transaction, table: Table, e: SampleEvent, version: number): Promise<void> {
  switch (e.type) {
    case 'SampleRegistered': {
      const d = e.data;
      const inserted = await trx(table('samples'))
        .insert({
          sample_id: d.sampleId,
          owner_id: d.ownerId,
          sample_type: d.sampleType,
          subject_id: d.subjectId,
          collection_date: d.collectionDate,
          status: d.status,
          storage_location: d.storageLocation,
          notes: d.notes,
          created_at: d.registeredAt,
          updated_at: d.registeredAt,
          version,
        })
        .onConflict('sample_id')
        .ignore()
        .returning('sample_id');
      if (inserted.length === 0) return;
      await addToStats(trx, table, d.ownerId, { total: 1, [d.status]: 1, [d.sampleType]: 1 });
      await addToDay(trx, table, d.ownerId, d.collectionDate, 1);
      return;
    }
    case 'SampleDetailsCorrected': {
      const { changes, ownerId } = e.data;
      const set: Record<string, string | null> = { updated_at: e.data.correctedAt };
      if (changes.sampleType) set.sample_type = changes.sampleType.to;
      if (changes.subjectId) set.subject_id = changes.subjectId.to;
      if (changes.collectionDate) set.collection_date = changes.collectionDate.to;
      if (changes.notes) set.notes = changes.notes.to;
      const before = await advance(trx, table, e.data.sampleId, version, set);
      if (!before) return;
      if (changes.sampleType) await addToStats(trx, table, ownerId, { [changes.sampleType.from]: -1, [changes.sampleType.to]: 1 });
      if (changes.collectionDate) {
        await addToDay(trx, table, ownerId, changes.collectionDate.from, -1);
        await addToDay(trx, table, ownerId, changes.collectionDate.to, 1);
      }
      return;
    }
    case 'SampleStatusChanged': {
      const before = await advance(trx, table, e.data.sampleId, version, { status: e.data.to, updated_at: e.data.changedAt });
      if (before) await addToStats(trx, table, e.data.ownerId, { [e.data.from]: -1, [e.data.to]: 1 });
      return;
    }
    case 'SampleMoved':
      await advance(trx, table, e.data.sampleId, version, { storage_location: e.data.to, updated_at: e.data.movedAt });
      return;
    case 'SampleDiscarded': {
      const before = await advance(trx, table, e.data.sampleId, version, { deleted_at: e.data.discardedAt, updated_at: e.data.discardedAt });
      if (!before) return;
      await addToStats(trx, table, e.data.ownerId, { total: -1, [before.status]: -1, [before.sample_type]: -1 });
      await addToDay(trx, table, e.data.ownerId, before.collection_date, -1);
      return;
    }
  }
}

export const samplesProjection: Projection = {
  name: samplesProjectionName,
  version: 1,
  eventTypes: [...sampleEventTypes, 'UserRegistered', 'UserErased'],
  tables: { samples, sample_stats: stats, sample_daily_counts: daily, sample_actors: actors },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    for (const event of events) {
      if (isSampleEventType(event.type)) {
        await applySample(trx, table, parseSampleEvent(event.type, event.data), event.revision + 1);
      } else if (event.type === 'UserRegistered' || event.type === 'UserErased') {
        const e = parseIdentityEvent(event.type, event.data);
        const username = e.type === 'UserRegistered' ? e.data.username : null;
        await trx(table('sample_actors')).insert({ user_id: e.data.userId, username }).onConflict('user_id').merge();
      }
    }
  },
};
