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
import {
  isSampleEventType,
  parseSampleEvent,
  sampleEventTypes,
  type SampleEvent,
  type SampleEventData,
  type SampleStatus,
  type SampleType,
} from '../../modules/samples/events.ts';
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
type SampleRegisteredData = SampleEventData<'SampleRegistered'>;
type Counts = Partial<Record<'total' | SampleStatus | SampleType, number>>;

/** Adds counts to owners' statistics: one statement for any number of owners. */
async function addToStats(trx: Knex.Transaction, table: Table, deltas: ReadonlyMap<string, Counts>): Promise<void> {
  if (deltas.size === 0) return;
  const columns = ['total', 'collected', 'processing', 'archived', 'blood', 'saliva', 'tissue'] as const;
  const rows = [...deltas].map(([ownerId, counts]) => [ownerId, ...columns.map((c) => counts[c] ?? 0)]);
  const t = table('sample_stats');
  await trx.raw(
    `INSERT INTO "${t}" AS s (owner_id, ${columns.join(', ')})
     VALUES ${rows.map(() => `(?::uuid, ${columns.map(() => '?::int').join(', ')})`).join(', ')}
     ON CONFLICT (owner_id) DO UPDATE SET ${columns.map((c) => `${c} = s.${c} + EXCLUDED.${c}`).join(', ')}`,
    rows.flat(),
  );
}

/** Adds to per-day counts: one statement for any number of (owner, day) pairs. */
async function addToDays(trx: Knex.Transaction, table: Table, deltas: ReadonlyMap<string, number>): Promise<void> {
  const rows = [...deltas].filter(([, n]) => n !== 0).map(([key, n]) => [...key.split('|'), n] as [string, string, number]);
  if (rows.length === 0) return;
  const t = table('sample_daily_counts');
  await trx.raw(
    `INSERT INTO "${t}" AS d (owner_id, collection_date, samples) VALUES ${rows.map(() => '(?::uuid, ?::date, ?::int)').join(', ')}
     ON CONFLICT (owner_id, collection_date) DO UPDATE SET samples = d.samples + EXCLUDED.samples`,
    rows.flat(),
  );
  // Days that dropped to zero go, so a replay in other batch sizes leaves exactly the same rows.
  const lowered = rows.filter(([, , n]) => n < 0);
  if (lowered.length > 0) {
    await trx.raw(
      `DELETE FROM "${t}" WHERE samples = 0 AND (owner_id, collection_date) IN (${lowered.map(() => '(?::uuid, ?::date)').join(', ')})`,
      lowered.flatMap(([owner, date]) => [owner, date]),
    );
  }
}

/** Statistic deltas gathered over a run of events, written in two statements. */
class Deltas {
  readonly stats = new Map<string, Counts>();
  readonly days = new Map<string, number>();
  count(ownerId: string, counts: Counts): void {
    const current = this.stats.get(ownerId) ?? {};
    for (const [key, n] of Object.entries(counts) as [keyof Counts, number][]) current[key] = (current[key] ?? 0) + n;
    this.stats.set(ownerId, current);
  }
  day(ownerId: string, date: string, n: number): void {
    const key = `${ownerId}|${date}`;
    this.days.set(key, (this.days.get(key) ?? 0) + n);
  }
  async write(trx: Knex.Transaction, table: Table): Promise<void> {
    await addToStats(trx, table, this.stats);
    await addToDays(trx, table, this.days);
    this.stats.clear();
    this.days.clear();
  }
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

/**
 * Registrations in a row (the bulk of a catch-up, and of a busy minute) become one multi-row
 * INSERT; only rows actually inserted count in the statistics (a replayed event inserts nothing).
 */
async function registerAll(trx: Knex.Transaction, table: Table, events: readonly { data: SampleRegisteredData; version: number }[], deltas: Deltas): Promise<void> {
  if (events.length === 0) return;
  const inserted = await trx(table('samples'))
    .insert(
      events.map(({ data: d, version }) => ({
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
      })),
    )
    .onConflict('sample_id')
    .ignore()
    .returning<{ owner_id: string; status: SampleStatus; sample_type: SampleType; collection_date: string }[]>(['owner_id', 'status', 'sample_type', 'collection_date']);
  for (const row of inserted) {
    deltas.count(row.owner_id, { total: 1, [row.status]: 1, [row.sample_type]: 1 });
    deltas.day(row.owner_id, row.collection_date, 1);
  }
}

async function applyChange(trx: Knex.Transaction, table: Table, e: Exclude<SampleEvent, { type: 'SampleRegistered' }>, version: number, deltas: Deltas): Promise<void> {
  switch (e.type) {
    case 'SampleDetailsCorrected': {
      const { changes, ownerId } = e.data;
      const set: Record<string, string | null> = { updated_at: e.data.correctedAt };
      if (changes.sampleType) set.sample_type = changes.sampleType.to;
      if (changes.subjectId) set.subject_id = changes.subjectId.to;
      if (changes.collectionDate) set.collection_date = changes.collectionDate.to;
      if (changes.notes) set.notes = changes.notes.to;
      const before = await advance(trx, table, e.data.sampleId, version, set);
      if (!before) return;
      if (changes.sampleType) deltas.count(ownerId, { [changes.sampleType.from]: -1, [changes.sampleType.to]: 1 });
      if (changes.collectionDate) {
        deltas.day(ownerId, changes.collectionDate.from, -1);
        deltas.day(ownerId, changes.collectionDate.to, 1);
      }
      return;
    }
    case 'SampleStatusChanged': {
      const before = await advance(trx, table, e.data.sampleId, version, { status: e.data.to, updated_at: e.data.changedAt });
      if (before) deltas.count(e.data.ownerId, { [e.data.from]: -1, [e.data.to]: 1 });
      return;
    }
    case 'SampleMoved':
      await advance(trx, table, e.data.sampleId, version, { storage_location: e.data.to, updated_at: e.data.movedAt });
      return;
    case 'SampleDiscarded': {
      const before = await advance(trx, table, e.data.sampleId, version, { deleted_at: e.data.discardedAt, updated_at: e.data.discardedAt });
      if (!before) return;
      deltas.count(e.data.ownerId, { total: -1, [before.status]: -1, [before.sample_type]: -1 });
      deltas.day(e.data.ownerId, before.collection_date, -1);
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
    const deltas = new Deltas();
    let registrations: { data: SampleRegisteredData; version: number }[] = [];
    const flush = async () => {
      await registerAll(trx, table, registrations, deltas);
      registrations = [];
    };
    for (const event of events) {
      const version = event.revision + 1; // the sample's version after this event
      if (isSampleEventType(event.type)) {
        const e = parseSampleEvent(event.type, event.data);
        if (e.type === 'SampleRegistered') {
          registrations.push({ data: e.data, version });
          continue;
        }
        await flush(); // a change may concern a sample registered earlier in this batch
        await applyChange(trx, table, e, version, deltas);
      } else if (event.type === 'UserRegistered' || event.type === 'UserErased') {
        const e = parseIdentityEvent(event.type, event.data);
        const username = e.type === 'UserRegistered' ? e.data.username : null;
        await trx(table('sample_actors')).insert({ user_id: e.data.userId, username }).onConflict('user_id').merge();
        if (e.type === 'UserErased') {
          // Erasure: the user's samples leave the read models (their events and history stay).
          await flush();
          for (const t of ['samples', 'sample_stats', 'sample_daily_counts']) await trx(table(t)).where('owner_id', e.data.userId).delete();
          deltas.stats.delete(e.data.userId);
          for (const key of [...deltas.days.keys()]) if (key.startsWith(`${e.data.userId}|`)) deltas.days.delete(key);
        }
      }
    }
    await flush();
    await deltas.write(trx, table);
  },
};
