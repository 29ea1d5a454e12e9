// The PostgreSQL adapter of the event store port (the default, and the embedded one).
//
// Gap-safe global order: each row stores the id of the transaction that wrote it. A reader
// takes only rows whose transaction id is below the oldest transaction still running
// (pg_snapshot_xmin of its own snapshot), ordered and paged by (transaction_id, position).
// Every transaction below that horizon has either committed or aborted, so no row can appear
// later "behind" a reader's checkpoint: a slow writer makes readers wait, never skip.
//
// An append is ONE statement (one round trip, its own transaction): it checks the expected
// revision and inserts all events; the unique (stream_id, revision) key turns a race between
// two writers into a conflict for exactly one of them. The common case — one event, with the
// exact revision the command handler just read (or "no stream") — takes a lighter statement:
// the previous event's hash is already known (an event's hash never changes once written, so a
// small per-stream cache of the last hash seen is always right about that revision), and the
// unique key alone decides the race (its gain: docs/event-store.md).
// Wake-ups: subscribers in this process are woken at once; other processes through NOTIFY,
// coalesced to one per few milliseconds (a NOTIFY per append would serialise every commit on
// PostgreSQL's notification queue lock). Subscribers also poll, since a notification can be missed,
// and poll again at once (with a short backoff) while committed events wait above the horizon:
// the transaction holding it back may end without anything to notify.
//
// The horizon is the server's, not the table's: ANY transaction holding an xid, in any database of
// the cluster, holds every reader back. So the service ends its own sessions idle in a transaction
// (idle_in_transaction_session_timeout), builds rebuild indexes without holding an xid, counts
// events waiting above the horizon as lag, and reports how long the horizon has been held
// (horizon()). A log restored logically into a new cluster keeps its old transaction ids, which
// can lie ahead of the new cluster's: new events would then sort before old ones and be skipped,
// so assertAppendsSortLast() refuses to start on such a log.
import pg from 'pg';
import { CONTENT_V2_SQL, CURRENT_HASH_VERSION } from './hash-chain.ts';
import {
  START,
  comparePositions,
  StreamConflictError,
  eventMetadataSchema,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type HorizonStatus,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStoredOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StoredEvent,
  type StreamAppend,
  type SubscribeOptions,
  type SubscriptionBatch,
} from './port.ts';
import type { UpcasterRegistry } from './upcasting.ts';

const NOTIFY_CHANNEL = 'vialog_events';
const UNIQUE_VIOLATION = '23505';
const NOTIFY_COALESCE_MS = 5;
/** Two `any` appends to one stream can race for the same revision; the loser tries again this often. */
const ANY_APPEND_ATTEMPTS = 10;
/** Re-polls while committed events wait above the horizon: the first after 10 ms, doubling up to 250 ms. */
const WAITING_REPOLL_MS = 10;
const WAITING_REPOLL_MAX_MS = 250;
/** Streams whose last-seen (revision, hash) are remembered for the light append. */
const KNOWN_HEADS_MAX = 10_000;

export interface PostgresEventStoreOptions {
  readonly url: string;
  readonly poolMax?: number;
  readonly upcasters?: UpcasterRegistry;
  /** Polling fallback for subscribers when a notification is missed. */
  readonly pollIntervalMs?: number;
  /** The server ends a session idle inside a transaction for longer (0 or unset: never). */
  readonly idleInTransactionTimeoutMs?: number;
  readonly onError?: (error: unknown) => void;
}

/** The log's transaction ids lie ahead of the cluster's: see assertAppendsSortLast. */
export class TransactionIdsBehindLogError extends Error {
  override readonly name = 'TransactionIdsBehindLogError';
}

interface EventRow {
  position: string;
  transaction_id: string;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  schema_version: number;
  data: EventData;
  metadata: Record<string, unknown>;
  recorded_at: Date;
  hash: string | null;
}

const EVENT_COLUMNS =
  "position, transaction_id::text AS transaction_id, stream_id, revision, event_id, type, schema_version, data, metadata, recorded_at, encode(hash, 'hex') AS hash";

// $1 stream, $2 expected ('any' | 'no_stream' | digits), $3..$7 parallel arrays of the events.
// Each event's hash chains it to the previous event of its stream (tamper evidence, see
// hash-chain.ts for the exact bytes): sha256(previous hash || sha256(stream, revision, type,
// schema version, data, metadata)).
const APPEND_SQL = `
WITH RECURSIVE last AS (
  -- One probe of (stream_id, revision) gives both the stream's revision and the hash to chain to.
  SELECT revision, hash FROM events WHERE stream_id = $1 ORDER BY revision DESC LIMIT 1
), current_revision AS (
  SELECT COALESCE((SELECT revision FROM last), -1) AS revision
), allowed AS (
  SELECT revision FROM current_revision
  WHERE $2::text = 'any'
     OR ($2::text = 'no_stream' AND revision = -1)
     OR ($2::text ~ '^[0-9]+$' AND revision = $2::text::integer)
), previous AS (
  SELECT COALESCE((SELECT hash FROM last), '\\x'::bytea) AS hash FROM allowed
), input AS (
  SELECT e.*, allowed.revision + e.ordinal AS revision
  FROM allowed, unnest($3::uuid[], $4::text[], $5::integer[], $6::jsonb[], $7::jsonb[])
    WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, ordinal)
), chain AS (
  SELECT i.ordinal, sha256(p.hash || sha256(${CONTENT_V2_SQL('i')})) AS hash
  FROM input i, previous p WHERE i.ordinal = 1
  UNION ALL
  SELECT i.ordinal, sha256(c.hash || sha256(${CONTENT_V2_SQL('i')}))
  FROM chain c JOIN input i ON i.ordinal = c.ordinal + 1
), inserted AS (
  INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata, hash, hash_version)
  SELECT $1, i.revision, i.event_id, i.type, i.schema_version, i.data, i.metadata, chain.hash, ${CURRENT_HASH_VERSION}
  FROM input i JOIN chain ON chain.ordinal = i.ordinal
  ORDER BY i.ordinal
  RETURNING revision, transaction_id, position, hash
)
SELECT (SELECT revision FROM current_revision) AS current_revision,
       (SELECT MAX(revision) FROM inserted) AS last_revision,
       (SELECT transaction_id::text FROM inserted LIMIT 1) AS transaction_id,
       (SELECT MAX(position)::text FROM inserted) AS position,
       (SELECT encode(hash, 'hex') FROM inserted ORDER BY revision DESC LIMIT 1) AS hash`;

// One event after a known head: $1 stream, $2 its revision, $3 event id, $4 type, $5 schema
// version, $6 data, $7 metadata, $8 the head's hash (empty for a new stream). No probe, no
// recursion: a concurrent writer that took revision $2 + 1 first makes this a unique violation.
const APPEND_ONE_AFTER_KNOWN_HEAD_SQL = `
INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata, hash, hash_version)
SELECT $1, e.revision, $3::uuid, e.type, e.schema_version, e.data, e.metadata,
       sha256($8::bytea || sha256(${CONTENT_V2_SQL('e')})), ${CURRENT_HASH_VERSION}
FROM (SELECT $2::integer + 1 AS revision, $4::text AS type, $5::integer AS schema_version,
             $6::jsonb AS data, $7::jsonb AS metadata) e
RETURNING revision AS last_revision, transaction_id::text AS transaction_id, position::text AS position, encode(hash, 'hex') AS hash`;

// Many streams in ONE statement (so one transaction): $1..$8 parallel arrays, one element per
// event: stream, its expected revision (as APPEND_SQL's $2), the event's 1-based ordinal in its
// stream, then the event. Every stream's head is probed once; if any expected revision does not
// hold, nothing is inserted and the refused streams come back. The chain is the same as
// APPEND_SQL's, per stream; positions follow the order given.
const APPEND_MANY_SQL = `
WITH RECURSIVE input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::uuid[], $5::text[], $6::integer[], $7::jsonb[], $8::jsonb[])
    WITH ORDINALITY AS e(stream_id, expected, ordinal, event_id, type, schema_version, data, metadata, seq)
), heads AS (
  SELECT s.stream_id, s.expected, COALESCE(l.revision, -1) AS revision, COALESCE(l.hash, '\\x'::bytea) AS hash
  FROM (SELECT DISTINCT stream_id, expected FROM input) s
  LEFT JOIN LATERAL (
    SELECT revision, hash FROM events WHERE events.stream_id = s.stream_id ORDER BY revision DESC LIMIT 1
  ) l ON true
), refused AS (
  SELECT stream_id, revision FROM heads
  WHERE NOT (expected = 'any' OR (expected = 'no_stream' AND revision = -1)
             OR (expected ~ '^[0-9]+$' AND revision = expected::integer))
), placed AS (
  SELECT i.*, h.revision + i.ordinal AS revision, h.hash AS previous
  FROM input i JOIN heads h ON h.stream_id = i.stream_id
  WHERE NOT EXISTS (SELECT 1 FROM refused)
), chain AS (
  SELECT p.stream_id, p.ordinal, sha256(p.previous || sha256(${CONTENT_V2_SQL('p', 'p.stream_id')})) AS hash
  FROM placed p WHERE p.ordinal = 1
  UNION ALL
  SELECT p.stream_id, p.ordinal, sha256(c.hash || sha256(${CONTENT_V2_SQL('p', 'p.stream_id')}))
  FROM chain c JOIN placed p ON p.stream_id = c.stream_id AND p.ordinal = c.ordinal + 1
), inserted AS (
  INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata, hash, hash_version)
  SELECT p.stream_id, p.revision, p.event_id, p.type, p.schema_version, p.data, p.metadata, c.hash, ${CURRENT_HASH_VERSION}
  FROM placed p JOIN chain c ON c.stream_id = p.stream_id AND c.ordinal = p.ordinal
  ORDER BY p.seq
  RETURNING stream_id, revision, transaction_id, position, hash
), last AS (
  SELECT DISTINCT ON (stream_id) stream_id, revision, transaction_id, position, hash FROM inserted
  ORDER BY stream_id, revision DESC
)
SELECT stream_id, revision AS current_revision, true AS refused, NULL::integer AS last_revision,
       NULL::text AS transaction_id, NULL::text AS position, NULL::text AS hash
FROM refused
UNION ALL
SELECT stream_id, NULL, false, revision, transaction_id::text, position::text, encode(hash, 'hex') FROM last`;

// One statement, so the page and the scanned-up-to head come from the same snapshot.
// Variants without "$x IS NULL OR ..." so the start condition stays an index condition on
// (transaction_id, position): an OR there would make every page scan from the beginning.
// $1/$2 the exclusive start, $3 limit, $4 type filter.
function readBatchSql(from: boolean, filtered: boolean): string {
  const start = from
    ? 'AND (events.transaction_id, events.position) > ($1::xid8, $2::bigint)'
    : 'AND $1::xid8 IS NULL AND $2::bigint IS NULL';
  const types = filtered ? 'AND events.type = ANY($4::text[])' : 'AND $4::text[] IS NULL';
  return `
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
page AS (
  SELECT ${EVENT_COLUMNS} FROM events, horizon
  WHERE events.transaction_id < horizon.xmin ${start} ${types}
  ORDER BY events.transaction_id, events.position
  LIMIT $3
), head AS (
  SELECT transaction_id::text AS transaction_id, position::text AS position FROM events, horizon
  WHERE events.transaction_id < horizon.xmin
  ORDER BY events.transaction_id DESC, events.position DESC
  LIMIT 1
)
SELECT 'event' AS kind, page.*, NULL AS head_transaction_id, NULL AS head_position, NULL::boolean AS waiting FROM page
UNION ALL
-- waiting: committed events above the horizon (an older transaction still runs): poll again soon.
SELECT 'head', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, head.transaction_id, head.position,
  EXISTS (SELECT 1 FROM events, horizon WHERE events.transaction_id >= horizon.xmin)
FROM (SELECT 1) AS one LEFT JOIN head ON true`;
}

const READ_BATCH_SQL = {
  fromStart: readBatchSql(false, false),
  fromStartFiltered: readBatchSql(false, true),
  after: readBatchSql(true, false),
  afterFiltered: readBatchSql(true, true),
} as const;

// Events as stored, for tamper evidence: the same gap-safe order and horizon as readBatchSql,
// data and metadata as jsonb text (what the chain hashes), nothing parsed or upcast.
const STORED_COLUMNS = `transaction_id::text AS commit, position::text AS prepare, stream_id, revision, type,
  schema_version, data::text AS data, metadata::text AS metadata, encode(hash, 'hex') AS hash, hash_version`;
const STORED_VISIBLE = 'events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())';
const STORED_ORDER = 'ORDER BY events.transaction_id, events.position LIMIT $1';
const READ_STORED_SQL = {
  fromStart: `SELECT ${STORED_COLUMNS} FROM events WHERE ${STORED_VISIBLE} ${STORED_ORDER}`,
  after: `SELECT ${STORED_COLUMNS} FROM events WHERE ${STORED_VISIBLE}
    AND (events.transaction_id, events.position) > ($2::xid8, $3::bigint) ${STORED_ORDER}`,
} as const;

interface StoredRow {
  commit: string;
  prepare: string;
  stream_id: string;
  revision: number;
  type: string;
  schema_version: number;
  data: string;
  metadata: string;
  hash: string | null;
  hash_version: number;
}

interface BatchRow extends EventRow {
  kind: 'event' | 'head';
  head_transaction_id: string | null;
  head_position: string | null;
  waiting: boolean | null;
}

interface Batch {
  events: RecordedEvent[];
  scannedTo: Position | undefined;
  /** Committed events wait above the horizon. */
  waiting: boolean;
}

function expectedToText(expected: ExpectedRevision): string {
  if (expected === 'any' || expected === 'no_stream') return expected;
  if (!Number.isSafeInteger(expected) || expected < 0)
    throw new TypeError(`invalid expected revision ${String(expected)}`);
  return String(expected);
}

function positionParams(after: Position | undefined): [string | null, string | null] {
  if (!after || (after.commit === START.commit && after.prepare === START.prepare)) return [null, null];
  return [after.commit.toString(), after.prepare.toString()];
}

/** Events as the parallel arrays the append statements unnest. */
class EventColumns {
  readonly eventIds: string[] = [];
  readonly types: string[] = [];
  readonly versions: number[] = [];
  readonly datas: string[] = [];
  readonly metadatas: string[] = [];
  add(events: readonly NewEvent[]): this {
    for (const event of events) {
      const metadata = eventMetadataSchema.parse(event.metadata);
      this.eventIds.push(metadata.eventId);
      this.types.push(event.type);
      this.versions.push(metadata.schemaVersion);
      this.datas.push(JSON.stringify(event.data));
      this.metadatas.push(JSON.stringify(metadata));
    }
    return this;
  }
}

interface AppendManyRow {
  stream_id: string;
  current_revision: number | null;
  refused: boolean;
  last_revision: number | null;
  transaction_id: string | null;
  position: string | null;
  hash: string | null;
}

/** The stream a unique violation of (stream_id, revision) names, from the server's detail text. */
function conflictingStream(error: pg.DatabaseError): string | undefined {
  return /^Key \(stream_id, revision\)=\((.*), -?\d+\) already exists/.exec(error.detail ?? '')?.[1];
}

const isRevisionRace = (error: unknown): error is pg.DatabaseError =>
  error instanceof pg.DatabaseError &&
  error.code === UNIQUE_VIOLATION &&
  error.constraint === 'events_stream_revision_key';

export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly #upcasters: UpcasterRegistry | undefined;
  readonly #pollIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #url: string;
  readonly #wakers = new Set<() => void>();
  #listener: pg.Client | undefined;
  #listenerStarting: Promise<void> | undefined;
  #closed = false;
  #notifyPending = false;
  /** stream → the highest (revision, hash) seen through this store; insertion order = recency. */
  readonly #knownHeads = new Map<string, { revision: number; hash: string }>();

  constructor(options: PostgresEventStoreOptions) {
    this.#url = options.url;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax ?? 10,
      application_name: 'vialog-eventstore',
      ...(options.idleInTransactionTimeoutMs
        ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }
        : {}),
    });
    this.pool.on('error', (error) => this.#onError(error));
    this.#upcasters = options.upcasters;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#onError = options.onError ?? (() => undefined);
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedRevision: ExpectedRevision },
    attempt = 1,
  ): Promise<AppendResult> {
    if (events.length === 0) throw new TypeError('append needs at least one event');
    const { eventIds, types, versions, datas, metadatas } = new EventColumns().add(events);
    const expected = expectedToText(options.expectedRevision);
    const head = this.#headFor(streamId, options.expectedRevision);
    let row:
      | {
          current_revision?: number;
          last_revision: number | null;
          transaction_id: string | null;
          position: string | null;
          hash: string | null;
        }
      | undefined;
    try {
      if (head && events.length === 1) {
        const result = await this.pool.query<NonNullable<typeof row>>({
          name: 'vialog_append_one_after_known_head',
          text: APPEND_ONE_AFTER_KNOWN_HEAD_SQL,
          values: [
            streamId,
            head.revision,
            eventIds[0],
            types[0],
            versions[0],
            datas[0],
            metadatas[0],
            Buffer.from(head.hash, 'hex'),
          ],
        });
        row = result.rows[0];
      } else {
        const result = await this.pool.query<NonNullable<typeof row>>({
          name: 'vialog_append',
          text: APPEND_SQL,
          values: [streamId, expected, eventIds, types, versions, datas, metadatas],
        });
        row = result.rows[0];
      }
    } catch (error) {
      if (isRevisionRace(error)) {
        this.#knownHeads.delete(streamId);
        // Another `any` append took the same next revision first; `any` accepts whichever comes next.
        if (options.expectedRevision === 'any' && attempt < ANY_APPEND_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * attempt));
          return this.append(streamId, events, options, attempt + 1);
        }
        throw new StreamConflictError(streamId, options.expectedRevision, undefined);
      }
      throw error;
    }
    if (!row || row.last_revision === null || row.transaction_id === null || row.position === null) {
      throw new StreamConflictError(streamId, options.expectedRevision, row?.current_revision);
    }
    if (row.hash) this.#rememberHead(streamId, row.last_revision, row.hash);
    this.#announceAppend();
    return {
      nextExpectedRevision: row.last_revision,
      position: { commit: BigInt(row.transaction_id), prepare: BigInt(row.position) },
    };
  }

  async appendMany(appends: readonly StreamAppend[], attempt = 1): Promise<AppendResult[]> {
    if (appends.length === 0) return [];
    const expectedOf = new Map<string, ExpectedRevision>();
    const streams: string[] = [];
    const expected: string[] = [];
    const ordinals: number[] = [];
    const columns = new EventColumns();
    for (const a of appends) {
      if (a.events.length === 0) throw new TypeError('append needs at least one event');
      if (expectedOf.has(a.streamId)) throw new TypeError(`stream ${a.streamId} appears twice in one appendMany`);
      expectedOf.set(a.streamId, a.expectedRevision);
      const text = expectedToText(a.expectedRevision);
      columns.add(a.events);
      a.events.forEach((_, i) => {
        streams.push(a.streamId);
        expected.push(text);
        ordinals.push(i + 1);
      });
    }
    let rows: AppendManyRow[];
    try {
      const { eventIds, types, versions, datas, metadatas } = columns;
      const values = [streams, expected, ordinals, eventIds, types, versions, datas, metadatas];
      rows = (await this.pool.query<AppendManyRow>({ name: 'vialog_append_many', text: APPEND_MANY_SQL, values })).rows;
    } catch (error) {
      if (!isRevisionRace(error)) throw error;
      const streamId = conflictingStream(error) ?? appends[0]!.streamId;
      this.#knownHeads.delete(streamId);
      // As in append: a stream appended with `any` accepts whichever revision comes next.
      if (expectedOf.get(streamId) === 'any' && attempt < ANY_APPEND_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * attempt));
        return this.appendMany(appends, attempt + 1);
      }
      throw new StreamConflictError(streamId, expectedOf.get(streamId) ?? 'any', undefined);
    }
    const refused = rows.find((r) => r.refused);
    if (refused)
      throw new StreamConflictError(
        refused.stream_id,
        expectedOf.get(refused.stream_id)!,
        refused.current_revision ?? -1,
      );
    const byStream = new Map(rows.map((r) => [r.stream_id, r]));
    const results = appends.map((a): AppendResult => {
      const row = byStream.get(a.streamId);
      if (!row || row.last_revision === null || row.transaction_id === null || row.position === null)
        throw new Error(`appendMany: no result for stream ${a.streamId}`);
      if (row.hash) this.#rememberHead(a.streamId, row.last_revision, row.hash);
      return {
        nextExpectedRevision: row.last_revision,
        position: { commit: BigInt(row.transaction_id), prepare: BigInt(row.position) },
      };
    });
    this.#announceAppend();
    return results;
  }

  /** The head to append after without probing: "no stream" is the empty chain; an exact revision needs its hash known. */
  #headFor(streamId: string, expected: ExpectedRevision): { revision: number; hash: string } | undefined {
    if (expected === 'no_stream') return { revision: -1, hash: '' };
    if (expected === 'any') return undefined;
    const known = this.#knownHeads.get(streamId);
    return known?.revision === expected ? known : undefined;
  }

  #rememberHead(streamId: string, revision: number, hash: string): void {
    const known = this.#knownHeads.get(streamId);
    if (known && known.revision >= revision) return;
    this.#knownHeads.delete(streamId);
    this.#knownHeads.set(streamId, { revision, hash });
    if (this.#knownHeads.size > KNOWN_HEADS_MAX) this.#knownHeads.delete(this.#knownHeads.keys().next().value!);
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const result = await this.pool.query<EventRow>({
      name: 'vialog_read_stream',
      text: `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND revision >= $2 ORDER BY revision LIMIT $3`,
      values: [streamId, options.fromRevision ?? 0, options.maxCount ?? null],
    });
    const last = result.rows.at(-1);
    if (last?.hash) this.#rememberHead(streamId, last.revision, last.hash);
    return result.rows.map((row) => this.#toEvent(row));
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.#readBatch(options.after, options.maxCount, options.eventTypes)).events;
  }

  async #readBatch(
    after: Position | undefined,
    maxCount: number,
    eventTypes: readonly string[] | undefined,
  ): Promise<Batch> {
    if (!Number.isSafeInteger(maxCount) || maxCount < 1) throw new TypeError('maxCount must be a positive integer');
    const [commit, prepare] = positionParams(after);
    const variant: keyof typeof READ_BATCH_SQL =
      commit === null ? (eventTypes ? 'fromStartFiltered' : 'fromStart') : eventTypes ? 'afterFiltered' : 'after';
    const result = await this.pool.query<BatchRow>({
      name: `vialog_read_batch_${variant}`,
      text: READ_BATCH_SQL[variant],
      values: [commit, prepare, maxCount, eventTypes ? [...eventTypes] : null],
    });
    const events: RecordedEvent[] = [];
    let head: Position | undefined;
    let waiting = false;
    for (const row of result.rows) {
      if (row.kind === 'event') events.push(this.#toEvent(row));
      else {
        waiting = row.waiting === true;
        if (row.head_transaction_id !== null && row.head_position !== null) {
          head = { commit: BigInt(row.head_transaction_id), prepare: BigInt(row.head_position) };
        }
      }
    }
    events.sort((a, b) => comparePositions(a.position, b.position));
    // A full page may stop before the head; a short page has scanned everything visible. The
    // visible head can be behind `after` (an older transaction anywhere on the server holds the
    // horizon back): then nothing was scanned past `after`, and the checkpoint must not move back.
    const last = events.at(-1);
    let scannedTo = events.length === maxCount ? last?.position : (head ?? last?.position);
    if (scannedTo && after && comparePositions(scannedTo, after) < 0) scannedTo = after;
    return { events, scannedTo, waiting };
  }

  async *subscribe(options: SubscribeOptions): AsyncGenerator<SubscriptionBatch> {
    const { signal } = options;
    const maxBatchSize = options.maxBatchSize ?? 500;
    let after: Position = options.after ?? START;
    let woken = false;
    let wake: (() => void) | undefined;
    let repollMs = WAITING_REPOLL_MS;
    const waker = () => {
      woken = true;
      wake?.();
    };
    this.#wakers.add(waker);
    signal.addEventListener('abort', waker);
    try {
      await this.#startListener().catch((error: unknown) => this.#onError(error));
      // While catching up, the next page is read while the consumer handles the current one.
      let prefetched: Promise<Batch> | undefined;
      while (!signal.aborted) {
        woken = false;
        let batch: Batch;
        try {
          batch = await (prefetched ?? this.#readBatch(after, maxBatchSize, options.eventTypes));
        } catch (error) {
          prefetched = undefined;
          if (signal.aborted) return;
          this.#onError(error);
          await this.#sleep(this.#pollIntervalMs, signal, (w) => (wake = w));
          continue;
        }
        prefetched = undefined;
        const full = batch.events.length === maxBatchSize;
        const advanced = batch.scannedTo !== undefined && !samePosition(batch.scannedTo, after);
        if (batch.events.length > 0 || advanced) {
          const checkpoint = batch.scannedTo ?? after;
          if (full) {
            prefetched = this.#readBatch(checkpoint, maxBatchSize, options.eventTypes);
            prefetched.catch(() => undefined); // handled when awaited
          }
          yield { events: batch.events, checkpoint };
          after = checkpoint;
        }
        if (full) continue; // catching up: read on at once
        if (woken) continue;
        // Events wait above the horizon: the transaction holding it may end with no append to wake us.
        const maxRepollMs = Math.min(WAITING_REPOLL_MAX_MS, this.#pollIntervalMs);
        repollMs = batch.waiting ? Math.min(repollMs * 2, maxRepollMs) : WAITING_REPOLL_MS;
        await this.#sleep(batch.waiting ? repollMs : this.#pollIntervalMs, signal, (w) => (wake = w));
      }
    } finally {
      this.#wakers.delete(waker);
      signal.removeEventListener('abort', waker);
    }
  }

  /** Wakes local subscribers now and, a moment later, other processes' (one NOTIFY for many appends). */
  #announceAppend(): void {
    for (const w of this.#wakers) w();
    if (this.#notifyPending || this.#closed) return;
    this.#notifyPending = true;
    setTimeout(() => {
      this.#notifyPending = false;
      if (this.#closed) return;
      this.pool.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`).catch((error: unknown) => this.#onError(error));
    }, NOTIFY_COALESCE_MS).unref();
  }

  #sleep(ms: number, signal: AbortSignal, setWake: (wake: (() => void) | undefined) => void): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        setWake(undefined);
        resolve();
      };
      const timer = setTimeout(done, ms);
      setWake(done);
    });
  }

  /** One LISTEN connection per store wakes every subscriber; it reconnects after a drop. */
  #startListener(): Promise<void> {
    if (this.#listener || this.#closed) return Promise.resolve();
    this.#listenerStarting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.#url,
        application_name: 'vialog-eventstore-listener',
        keepAlive: true,
      });
      client.on('notification', () => {
        for (const w of this.#wakers) w();
      });
      client.on('error', (error) => {
        this.#onError(error);
        this.#dropListener(client);
      });
      client.on('end', () => this.#dropListener(client));
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.#listener = client;
    })().finally(() => {
      this.#listenerStarting = undefined;
    });
    return this.#listenerStarting;
  }

  #dropListener(client: pg.Client): void {
    if (this.#listener !== client) return;
    this.#listener = undefined;
    client.end().catch(() => undefined);
    if (this.#closed || this.#wakers.size === 0) return;
    // Subscribers keep polling meanwhile; wake them so they re-read what they may have missed.
    setTimeout(() => {
      this.#startListener().catch((error: unknown) => this.#onError(error));
      for (const w of this.#wakers) w();
    }, this.#pollIntervalMs).unref();
  }

  async streamExists(streamId: string): Promise<boolean> {
    const result = await this.pool.query({
      name: 'vialog_stream_exists',
      text: 'SELECT 1 FROM events WHERE stream_id = $1 LIMIT 1',
      values: [streamId],
    });
    return result.rowCount !== null && result.rowCount > 0;
  }

  async headPosition(): Promise<Position | undefined> {
    const result = await this.pool.query<{ transaction_id: string; position: string }>({
      name: 'vialog_head_position',
      text: `SELECT transaction_id::text AS transaction_id, position::text AS position FROM events
             WHERE events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
             -- Qualified: unqualified names would sort by the ::text outputs (wrong order, full scan).
             ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1`,
    });
    const row = result.rows[0];
    return row ? { commit: BigInt(row.transaction_id), prepare: BigInt(row.position) } : undefined;
  }

  /** Every committed event after `after`, those waiting above the horizon too (they are lag as well). */
  async countAfter(after: Position): Promise<number> {
    const [commit, prepare] = positionParams(after);
    const result = await this.pool.query<{ count: string }>(
      commit === null
        ? { name: 'vialog_count_all', text: 'SELECT COUNT(*) AS count FROM events' }
        : {
            name: 'vialog_count_after',
            text: 'SELECT COUNT(*) AS count FROM events WHERE (transaction_id, position) > ($1::xid8, $2::bigint)',
            values: [commit, prepare],
          },
    );
    return Number(result.rows[0]?.count ?? 0);
  }

  async horizon(): Promise<HorizonStatus> {
    interface Row {
      holder_age: number | null;
      pid: number | null;
      application_name: string | null;
      state: string | null;
      waiting: number;
      waiting_age: number | null;
    }
    const result = await this.pool.query<Row>({
      name: 'vialog_horizon',
      text: `WITH holder AS (
               SELECT pid, application_name, state, xact_start FROM pg_stat_activity
               WHERE backend_xid IS NOT NULL AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
               ORDER BY xact_start LIMIT 1
             ), waiting AS (
               SELECT COUNT(*)::integer AS waiting, MIN(recorded_at) AS oldest FROM events
               WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
             )
             SELECT EXTRACT(EPOCH FROM clock_timestamp() - holder.xact_start)::float8 AS holder_age,
                    holder.pid, holder.application_name, holder.state, waiting.waiting,
                    EXTRACT(EPOCH FROM clock_timestamp() - waiting.oldest)::float8 AS waiting_age
             FROM waiting LEFT JOIN holder ON true`,
    });
    const row = result.rows[0];
    if (!row) return { ageSeconds: 0, waitingEvents: 0, holder: null };
    const age = Math.max(0, row.holder_age ?? 0, row.waiting_age ?? 0);
    return {
      ageSeconds: Math.round(age * 10) / 10,
      waitingEvents: row.waiting,
      holder: row.pid === null ? null : { pid: row.pid, applicationName: row.application_name, state: row.state },
    };
  }

  /**
   * Refuses a log whose transaction ids are not all below the cluster's next one: a logical
   * restore (pg_dump into a new cluster) keeps the old ids, and new events would sort before old
   * ones, behind every checkpoint, and be skipped forever. The repair advances the cluster's
   * transaction id epoch past the log's (docs/operations.md).
   */
  async assertAppendsSortLast(): Promise<void> {
    const result = await this.pool.query<{ highest: string | null; next: string }>(
      `SELECT (SELECT MAX(transaction_id) FROM events)::text AS highest,
              pg_snapshot_xmax(pg_current_snapshot())::text AS next`,
    );
    const row = result.rows[0];
    if (!row?.highest || BigInt(row.highest) < BigInt(row.next)) return;
    const epoch = (BigInt(row.highest) >> 32n) + 1n;
    throw new TransactionIdsBehindLogError(
      `The event log holds transaction ids up to ${row.highest}, but this PostgreSQL cluster's next ` +
        `transaction id is ${row.next}: the log was restored logically (pg_dump/pg_restore) into another ` +
        'cluster, and new events would sort before old ones and never reach the read models. Repair: stop ' +
        `the cluster and run \`pg_resetwal -e ${epoch} <data directory>\` (advances the transaction id epoch ` +
        "past the log's; nothing else changes), start it again, then start Vialog. See docs/operations.md, " +
        '"Restoring a logical dump".',
    );
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#wakers) w();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }

  async readAllStored(options: ReadStoredOptions): Promise<StoredEvent[]> {
    const { maxCount } = options;
    if (!Number.isSafeInteger(maxCount) || maxCount < 1) throw new TypeError('maxCount must be a positive integer');
    const [commit, prepare] = positionParams(options.after);
    const result = await this.pool.query<StoredRow>(
      commit === null
        ? { name: 'vialog_read_stored_from_start', text: READ_STORED_SQL.fromStart, values: [maxCount] }
        : { name: 'vialog_read_stored_after', text: READ_STORED_SQL.after, values: [maxCount, commit, prepare] },
    );
    return result.rows.map((row) => ({
      streamId: row.stream_id,
      revision: row.revision,
      position: { commit: BigInt(row.commit), prepare: BigInt(row.prepare) },
      type: row.type,
      schemaVersion: row.schema_version,
      dataText: row.data,
      metadataText: row.metadata,
      hash: row.hash ?? undefined,
      hashVersion: row.hash_version,
    }));
  }

  #toEvent(row: EventRow): RecordedEvent {
    const upcast = this.#upcasters?.upcast(row.type, row.schema_version, row.data) ?? {
      data: row.data,
      schemaVersion: row.schema_version,
    };
    const metadata = eventMetadataSchema.parse({ ...row.metadata, schemaVersion: upcast.schemaVersion });
    return {
      type: row.type,
      data: upcast.data,
      metadata,
      streamId: row.stream_id,
      revision: row.revision,
      position: { commit: BigInt(row.transaction_id), prepare: BigInt(row.position) },
      recordedAt: row.recorded_at.toISOString(),
      ...(row.hash ? { hash: row.hash } : {}),
    };
  }
}

function samePosition(a: Position, b: Position): boolean {
  return a.commit === b.commit && a.prepare === b.prepare;
}

export function openPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  return new PostgresEventStore(options);
}
