// The samples read model: per-lab tables under row-level security (lab_id, the caller's labs),
// maintained incrementally so no query ever counts rows at request time.
//   samples              one row per sample (owner_id: who registered it); a discarded one keeps
//                        its row (deleted_at) so a replayed registration cannot bring it back
//   sample_stats         per lab: total, by status, by type
//   sample_daily_counts  per lab and collection date: feeds "collected in the last 30 days"
//                        (at most 31 rows per lab summed, whatever the number of samples)
//   sample_actors        user id → username, from identity events, for the history's actor names
//                        (null once erased: the lab's samples stay, the person's name goes)
//
// Idempotent: every sample row carries its version (events in the stream); an event at or below
// it changes nothing, and the statistics move only when the row did, in the same transaction.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { scopePolicy } from '../../platform/database/owner-scope.ts';
import { storableJson, storableText } from '../../platform/text.ts';
import {
  isSampleEventType,
  parseSampleEvent,
  sampleEventTypes,
  sampleStatuses,
  sampleTypes,
  type SampleEvent,
  type SampleStatus,
  type SampleType,
  normaliseBarcode,
  type Quantity,
} from '../../modules/samples/events.ts';
import { parseIdentityEvent } from '../../modules/identity/events.ts';
import { tableDdl, type Projection } from '../engine/index.ts';

export const samplesProjectionName = 'samples';

const samples = tableDdl(
  'sample_id',
  `sample_id        uuid NOT NULL,
  lab_id           uuid NOT NULL,
  owner_id         uuid NOT NULL,
  sample_type      text NOT NULL,
  subject_id       text NOT NULL,
  collection_date  date NOT NULL,
  status           text NOT NULL,
  storage_location text,
  notes            text,
  barcode          text,
  barcode_key      text,
  quantity         jsonb,
  remaining        jsonb,
  lineage          text NOT NULL DEFAULT 'primary',
  parent_id        uuid,
  freeze_thaw_count integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  version          integer NOT NULL,
  deleted_at       timestamptz`,
  (t) =>
    `CREATE INDEX "${t}_by_date" ON "${t}" (lab_id, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL`,
  (t) =>
    `CREATE INDEX "${t}_by_status" ON "${t}" (lab_id, status, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL`,
  (t) =>
    `CREATE INDEX "${t}_by_type" ON "${t}" (lab_id, sample_type, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL`,
  (t) =>
    `CREATE INDEX "${t}_by_subject" ON "${t}" (lab_id, subject_id, collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL`,
  (t) => `CREATE INDEX "${t}_by_barcode" ON "${t}" (barcode_key, lab_id) WHERE deleted_at IS NULL`,
  (t) => `CREATE INDEX "${t}_by_parent" ON "${t}" (parent_id) WHERE parent_id IS NOT NULL`,
  (t) =>
    `CREATE INDEX "${t}_by_date_all_labs" ON "${t}" (collection_date DESC, sample_id DESC) WHERE deleted_at IS NULL`,
  scopePolicy,
);

const stats = tableDdl(
  'lab_id',
  `lab_id     uuid NOT NULL,
  total      integer NOT NULL DEFAULT 0,
  collected  integer NOT NULL DEFAULT 0,
  processing integer NOT NULL DEFAULT 0,
  archived   integer NOT NULL DEFAULT 0,
  consumed   integer NOT NULL DEFAULT 0,
  disposed   integer NOT NULL DEFAULT 0,
  blood      integer NOT NULL DEFAULT 0,
  saliva     integer NOT NULL DEFAULT 0,
  tissue     integer NOT NULL DEFAULT 0,
  plasma     integer NOT NULL DEFAULT 0,
  serum      integer NOT NULL DEFAULT 0,
  buffy_coat integer NOT NULL DEFAULT 0,
  dna        integer NOT NULL DEFAULT 0,
  rna        integer NOT NULL DEFAULT 0`,
  scopePolicy,
);

const daily = tableDdl(
  'lab_id, collection_date',
  `lab_id          uuid NOT NULL,
  collection_date date NOT NULL,
  samples         integer NOT NULL`,
  scopePolicy,
);

const actors = tableDdl(
  'user_id',
  `user_id  uuid NOT NULL,
  username text`,
  (t) => `GRANT SELECT ON "${t}" TO vialog_reader`,
);

type Table = (logical: string) => string;
type Counts = Partial<Record<'total' | SampleStatus | SampleType, number>>;

/** A statement with `?` bindings, to run alone or as one part of a combined write. */
interface Statement {
  readonly sql: string;
  readonly bindings: Knex.RawBinding[];
}

/** Adds counts to labs' statistics: one statement for any number of labs. */
function addToStats(table: Table, deltas: ReadonlyMap<string, Counts>): Statement | undefined {
  if (deltas.size === 0) return undefined;
  const columns = ['total', ...sampleStatuses, ...sampleTypes] as const;
  const rows = [...deltas].map(([labId, counts]) => [labId, ...columns.map((c) => counts[c] ?? 0)]);
  const t = table('sample_stats');
  return {
    sql: `INSERT INTO "${t}" AS s (lab_id, ${columns.join(', ')})
     VALUES ${rows.map(() => `(?::uuid, ${columns.map(() => '?::int').join(', ')})`).join(', ')}
     ON CONFLICT (lab_id) DO UPDATE SET ${columns.map((c) => `${c} = s.${c} + EXCLUDED.${c}`).join(', ')}`,
    bindings: rows.flat(),
  };
}

type DayRow = [lab: string, date: string, samples: number];

/** Adds to per-day counts: one statement for any number of (lab, day) pairs. */
function addToDays(table: Table, rows: readonly DayRow[]): Statement | undefined {
  if (rows.length === 0) return undefined;
  return {
    sql: `INSERT INTO "${table('sample_daily_counts')}" AS d (lab_id, collection_date, samples) VALUES ${rows.map(() => '(?::uuid, ?::date, ?::int)').join(', ')}
     ON CONFLICT (lab_id, collection_date) DO UPDATE SET samples = d.samples + EXCLUDED.samples`,
    bindings: rows.flat(),
  };
}

/**
 * Runs the statements as ONE (each a data-modifying CTE): a batch's writes cost one round trip,
 * which is what a read-your-writes wait pays for. The tables differ, so no part needs another's effect.
 */
async function writeTogether(trx: Knex.Transaction, statements: readonly (Statement | undefined)[]): Promise<void> {
  const parts = statements.filter((st): st is Statement => st !== undefined);
  if (parts.length === 0) return;
  if (parts.length === 1) {
    await trx.raw(parts[0]!.sql, parts[0]!.bindings);
    return;
  }
  await trx.raw(
    `WITH ${parts.map((part, i) => `w${i} AS (${part.sql})`).join(', ')} SELECT 1`,
    parts.flatMap((part) => part.bindings),
  );
}

/** Statistic deltas gathered over a run of events, written as parts of the batch's one statement. */
const statsOf = (row: { status: string; sample_type: string; collection_date: string }) => ({
  status: row.status,
  sampleType: row.sample_type,
  collectionDate: row.collection_date,
});

class Deltas {
  readonly stats = new Map<string, Counts>();
  readonly days = new Map<string, number>();
  count(labId: string, counts: Counts): void {
    const current = this.stats.get(labId) ?? {};
    for (const [key, n] of Object.entries(counts) as [keyof Counts, number][]) current[key] = (current[key] ?? 0) + n;
    this.stats.set(labId, current);
  }
  day(labId: string, date: string, n: number): void {
    const key = `${labId}|${date}`;
    this.days.set(key, (this.days.get(key) ?? 0) + n);
  }
  /** A sample entering (+1) or leaving (-1) a lab's statistics: total, status, type and day. */
  sample(labId: string, s: { status: string; sampleType: string; collectionDate: string }, n: 1 | -1): void {
    this.count(labId, { total: n, [s.status]: n, [s.sampleType]: n });
    this.day(labId, s.collectionDate, n);
  }
  /** The statements that add the deltas, and the days that dropped (to clean up after them). */
  take(table: Table): { statements: (Statement | undefined)[]; lowered: DayRow[] } {
    const days = [...this.days].filter(([, n]) => n !== 0).map(([key, n]) => [...key.split('|'), n] as DayRow);
    const statements = [addToStats(table, this.stats), addToDays(table, days)];
    this.stats.clear();
    this.days.clear();
    return { statements, lowered: days.filter(([, , n]) => n < 0) };
  }
}

interface SampleRow {
  sample_id: string;
  lab_id: string;
  owner_id: string;
  sample_type: SampleType;
  subject_id: string;
  collection_date: string;
  status: SampleStatus;
  storage_location: string | null;
  notes: string | null;
  barcode: string | null;
  barcode_key: string | null;
  quantity: Quantity | null;
  remaining: Quantity | null;
  lineage: string;
  parent_id: string | null;
  freeze_thaw_count: number;
  created_at: string;
  updated_at: string;
  version: number;
  deleted_at: string | null;
}

/**
 * A batch in memory: the samples it touches are read once, every event is applied to them in
 * order (an event at or below a row's version is skipped: applied before), and the changed rows
 * are written back with one multi-row upsert per thousand rows. Statistics move with the rows.
 */
class SampleBatch {
  readonly rows = new Map<string, SampleRow>();
  readonly dirty = new Set<string>();
  readonly deltas = new Deltas();

  async load(trx: Knex.Transaction, table: Table, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const found = await trx.raw<{ rows: SampleRow[] }>(
      `SELECT * FROM "${table('samples')}" WHERE sample_id = ANY(?::uuid[])`,
      [[...ids]],
    );
    for (const row of found.rows)
      this.rows.set(row.sample_id, {
        ...row,
        created_at: iso(row.created_at),
        updated_at: iso(row.updated_at),
        deleted_at: row.deleted_at === null ? null : iso(row.deleted_at),
      });
  }

  apply(e: SampleEvent, version: number): void {
    const d = e.data;
    if (e.type === 'SampleRegistered') {
      if (this.rows.has(d.sampleId)) return; // a discarded sample keeps its row: a replay cannot bring it back
      const r = e.data;
      this.rows.set(r.sampleId, {
        sample_id: r.sampleId,
        lab_id: r.labId,
        owner_id: r.ownerId,
        sample_type: r.sampleType,
        subject_id: r.subjectId,
        collection_date: r.collectionDate,
        status: r.status,
        storage_location: r.storageLocation,
        notes: r.notes,
        barcode: r.barcode ?? null,
        barcode_key: r.barcode === undefined ? null : normaliseBarcode(r.barcode),
        quantity: r.quantity ?? null,
        remaining: r.quantity ?? null,
        lineage: r.lineage ?? 'primary',
        parent_id: r.parentId ?? null,
        freeze_thaw_count: 0,
        created_at: r.registeredAt,
        updated_at: r.registeredAt,
        version,
        deleted_at: null,
      });
      this.dirty.add(r.sampleId);
      this.deltas.sample(r.labId, r, 1);
      return;
    }
    if (e.type === 'SampleBarcodeReserved') return; // a reservation stream, not the sample's
    const row = this.rows.get(d.sampleId);
    if (!row || row.deleted_at !== null || row.version >= version) return;
    switch (e.type) {
      case 'SampleDetailsCorrected': {
        const c = e.data.changes;
        if (c.sampleType) {
          this.deltas.count(row.lab_id, { [row.sample_type]: -1, [c.sampleType.to]: 1 });
          row.sample_type = c.sampleType.to;
        }
        if (c.subjectId) row.subject_id = c.subjectId.to;
        if (c.collectionDate) {
          this.deltas.day(row.lab_id, row.collection_date, -1);
          this.deltas.day(row.lab_id, c.collectionDate.to, 1);
          row.collection_date = c.collectionDate.to;
        }
        if (c.notes) row.notes = c.notes.to;
        row.updated_at = e.data.correctedAt;
        break;
      }
      case 'SampleStatusChanged':
        this.deltas.count(row.lab_id, { [row.status]: -1, [e.data.to]: 1 });
        row.status = e.data.to;
        row.updated_at = e.data.changedAt;
        break;
      case 'SampleMoved':
        row.storage_location = e.data.to;
        row.updated_at = e.data.movedAt;
        break;
      case 'SampleDiscarded':
        this.deltas.sample(row.lab_id, statsOf(row), -1);
        row.deleted_at = e.data.discardedAt;
        row.updated_at = e.data.discardedAt;
        break;
      case 'SampleAliquoted':
      case 'SampleDerived':
        row.remaining = e.data.remaining;
        row.updated_at = e.type === 'SampleAliquoted' ? e.data.aliquotedAt : e.data.derivedAt;
        break;
      case 'SampleConsumed':
        this.deltas.count(row.lab_id, { [row.status]: -1, consumed: 1 });
        row.status = 'consumed';
        row.remaining = null;
        row.updated_at = e.data.consumedAt;
        break;
      case 'SampleThawed':
        row.freeze_thaw_count = e.data.freezeThawCount;
        row.updated_at = e.data.thawedAt;
        break;
      case 'SampleTransferred':
        this.deltas.sample(row.lab_id, statsOf(row), -1);
        this.deltas.sample(e.data.labId, statsOf(row), 1);
        row.lab_id = e.data.labId;
        row.storage_location = null;
        row.updated_at = e.data.transferredAt;
        break;
    }
    row.version = version;
    this.dirty.add(row.sample_id);
  }

  async write(trx: Knex.Transaction, table: Table): Promise<void> {
    const rows = [...this.dirty].map((id) => this.rows.get(id)!);
    this.dirty.clear();
    // All changed rows as one JSON parameter, upserted together with the statistics in one
    // statement: one round trip, and no per-value binding work in Node.
    // storableJson: text an event from before the append-time checks may hold (U+0000) still fits.
    const upsert: Statement | undefined =
      rows.length === 0 ? undefined : { sql: upsertRowsSql(table('samples')), bindings: [storableJson(rows)] };
    const { statements, lowered } = this.deltas.take(table);
    await writeTogether(trx, [upsert, ...statements]);
    // Days that dropped to zero go (after the counts landed), so a replay in other batch sizes
    // leaves exactly the same rows.
    if (lowered.length > 0) {
      await trx.raw(
        `DELETE FROM "${table('sample_daily_counts')}" WHERE samples = 0 AND (lab_id, collection_date) IN (${lowered.map(() => '(?::uuid, ?::date)').join(', ')})`,
        lowered.flatMap(([lab, date]) => [lab, date]),
      );
    }
  }
}

const sampleColumns = [
  'sample_id',
  'lab_id',
  'owner_id',
  'sample_type',
  'subject_id',
  'collection_date',
  'status',
  'storage_location',
  'notes',
  'barcode',
  'barcode_key',
  'quantity',
  'remaining',
  'lineage',
  'parent_id',
  'freeze_thaw_count',
  'created_at',
  'updated_at',
  'version',
  'deleted_at',
] as const;

const upsertRowsSql = (t: string) => `INSERT INTO "${t}" (${sampleColumns.join(', ')})
  SELECT ${sampleColumns.join(', ')} FROM json_to_recordset(?::json) AS x(sample_id uuid, lab_id uuid, owner_id uuid, sample_type text, subject_id text,
    collection_date date, status text, storage_location text, notes text, barcode text, barcode_key text, quantity jsonb, remaining jsonb, lineage text, parent_id uuid, freeze_thaw_count integer, created_at timestamptz, updated_at timestamptz, version integer, deleted_at timestamptz)
  ON CONFLICT (sample_id) DO UPDATE SET ${sampleColumns
    .filter((c) => c !== 'sample_id')
    .map((c) => `${c} = EXCLUDED.${c}`)
    .join(', ')}`;

const iso = (value: string | Date): string => (value instanceof Date ? value.toISOString() : value);

export const samplesProjection: Projection = {
  name: samplesProjectionName,
  version: 4,
  eventTypes: [...sampleEventTypes, 'UserRegistered', 'UserErased'],
  tables: { samples, sample_stats: stats, sample_daily_counts: daily, sample_actors: actors },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    const batch = new SampleBatch();
    const parsed = events.map((event) => ({
      event,
      sample: isSampleEventType(event.type) ? parseSampleEvent(event.type, event.data) : undefined,
    }));
    await batch.load(trx, table, [...new Set(parsed.flatMap((p) => (p.sample ? [p.sample.data.sampleId] : [])))]);
    for (const { event, sample } of parsed) {
      if (sample)
        batch.apply(sample, event.revision + 1); // the sample's version after this event
      else if (event.type === 'UserRegistered' || event.type === 'UserErased') {
        const e = parseIdentityEvent(event.type, event.data);
        const username = e.type === 'UserRegistered' ? storableText(e.data.username) : null;
        // Erasure: the name goes; the samples the person registered stay, they belong to their lab.
        await trx(table('sample_actors')).insert({ user_id: e.data.userId, username }).onConflict('user_id').merge();
      }
    }
    await batch.write(trx, table);
  },
};
