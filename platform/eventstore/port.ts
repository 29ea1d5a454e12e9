// The event store port: the one interface every module, projection and tool uses.
// Two adapters implement it (postgres.ts, esdb.ts) and one contract suite checks both
// (test/integration/eventstore-contract.ts).
import { z } from 'zod';

/**
 * A place in the global log, totally ordered by (commit, prepare).
 * - postgres adapter: commit = the appending transaction's id (xid8), prepare = the row's sequence.
 * - esdb adapter: EventStoreDB's commit and prepare positions.
 */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export const START: Position = Object.freeze({ commit: -1n, prepare: -1n });

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** Opaque text form, e.g. for checkpoints in logs and the admin API: "<commit>/<prepare>". */
export function formatPosition(p: Position): string {
  return `${p.commit}/${p.prepare}`;
}

export function parsePosition(text: string): Position {
  const m = /^(-?\d+)\/(-?\d+)$/.exec(text);
  if (!m) throw new Error(`not a position: ${text}`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
}

export const actorTypes = ['user', 'api_key', 'system', 'anonymous'] as const;

/** Metadata of every event (DESIGN.md). `reason` is the user's change reason, if any. */
export const eventMetadataSchema = z.object({
  eventId: z.uuid(),
  schemaVersion: z.number().int().positive(),
  occurredAt: z.iso.datetime(),
  actorId: z.string().nullable(),
  actorType: z.enum(actorTypes),
  requestId: z.string().nullable(),
  correlationId: z.string().nullable(),
  causationId: z.string().nullable(),
  traceparent: z.string().nullable(),
  reason: z.string().max(500).nullable().optional(),
});
export type EventMetadata = z.infer<typeof eventMetadataSchema>;

export type EventData = Record<string, unknown>;

export interface NewEvent<Type extends string = string, Data extends EventData = EventData> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data extends EventData = EventData> extends NewEvent<
  Type,
  Data
> {
  readonly streamId: string;
  /** 0-based index of the event in its stream. */
  readonly revision: number;
  readonly position: Position;
  /** When the store accepted the event (ISO-8601 UTC). */
  readonly recordedAt: string;
  /** Hex SHA-256 chaining the event to the previous one of its stream (hash-chain.ts), when the store keeps one. */
  readonly hash?: string;
}

/** `no_stream`: the stream must not exist; `any`: no check; a number: the stream's last revision must be exactly it. */
export type ExpectedRevision = 'no_stream' | 'any' | number;

export interface AppendResult {
  /** Revision of the last appended event; pass it as expectedRevision for the next append. */
  readonly nextExpectedRevision: number;
  /** Position of the last appended event: wait for projections to reach it (read-your-writes). */
  readonly position: Position;
}

/** One stream's part of a batch append (appendMany). */
export interface StreamAppend {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expectedRevision: ExpectedRevision;
}

export interface ReadStreamOptions {
  /** First revision to return (inclusive). Default 0. */
  readonly fromRevision?: number;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Return events strictly after this position. Default: from the start. */
  readonly after?: Position;
  /** Required: never read the whole log at once. */
  readonly maxCount: number;
  /** Only events of these types (others are skipped, not returned). */
  readonly eventTypes?: readonly string[];
}

/**
 * An event exactly as the store keeps it: no upcasting, the JSON as stored text. What tamper
 * evidence hashes (platform/eventstore/hash-chain.ts, platform/audit/).
 */
export interface StoredEvent {
  readonly streamId: string;
  readonly revision: number;
  readonly position: Position;
  readonly type: string;
  readonly schemaVersion: number;
  /** PostgreSQL: jsonb::text; EventStoreDB: the JSON as written. */
  readonly dataText: string;
  /** The metadata as stored, without the chain fields an adapter keeps in it. */
  readonly metadataText: string;
  /** Hex chain hash, or undefined when the event was stored without one. */
  readonly hash: string | undefined;
  /** Which formula `hash` follows (hash-chain.ts). */
  readonly hashVersion: number;
}

export interface ReadStoredOptions {
  /** Events strictly after this position. Default: from the start. */
  readonly after?: Position;
  readonly maxCount: number;
}

export interface SubscribeOptions {
  /** Deliver events strictly after this position (a stored checkpoint). Default: from the start. */
  readonly after?: Position;
  readonly eventTypes?: readonly string[];
  /** Largest batch delivered while catching up. Live events come as soon as they are visible. */
  readonly maxBatchSize?: number;
  readonly signal: AbortSignal;
}

/**
 * A batch from a subscription. `checkpoint` is how far the log was scanned: it may be past the
 * last event of `events` (events of other types were skipped), and `events` may be empty.
 * A consumer that stores `checkpoint` after handling `events` resumes exactly where it left off.
 */
export interface SubscriptionBatch {
  readonly events: readonly RecordedEvent[];
  readonly checkpoint: Position;
}

/** A session holding a transaction id: its process id, application name and state. */
export interface HorizonHolder {
  readonly pid: number;
  readonly applicationName: string | null;
  readonly state: string | null;
}

/** How long event readers have been held back by the transaction horizon (PostgreSQL adapter). */
export interface HorizonStatus {
  /**
   * Age of the oldest transaction holding an xid (as far as the role may see other sessions in
   * pg_stat_activity; pg_monitor sees all), or of the oldest committed event waiting behind it,
   * whichever is older; 0 when nothing holds readers back.
   */
  readonly ageSeconds: number;
  /** Committed events readers cannot see yet because an older transaction still runs. */
  readonly waitingEvents: number;
  /** The oldest xid holder, when the role may see it. */
  readonly holder: HorizonHolder | null;
}

export interface EventStore {
  readonly kind: 'postgres' | 'esdb';
  /** Appends all events atomically, or none (StreamConflictError when expectedRevision does not hold). */
  append(
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult>;
  /**
   * Appends to many streams in one call (each stream at most once, each with its expected
   * revision); the results come in the order given. PostgreSQL: one transaction, all streams or
   * none (a StreamConflictError stores nothing). EventStoreDB has no transaction across streams:
   * the streams are appended one after another in the order given, and a conflict stops there,
   * leaving the streams before it appended. A caller that must survive either plans its streams
   * so that a repeat finds what is there already (docs/event-store.md).
   */
  appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** The stream's events in revision order; [] when it does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** A page of the global log in order, every event exactly once across pages. */
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The same global order as readAll, each event as stored (for tamper evidence). */
  readAllStored(options: ReadStoredOptions): Promise<StoredEvent[]>;
  /** Catch-up then live: an endless async iterable of batches in global order; ends when `signal` aborts. */
  subscribe(options: SubscribeOptions): AsyncIterable<SubscriptionBatch>;
  streamExists(streamId: string): Promise<boolean>;
  /** Position of the newest event visible to readers, or undefined for an empty log. */
  headPosition(): Promise<Position | undefined>;
  /**
   * Events after `after`, for lag figures: on PostgreSQL those still waiting above the horizon
   * too; may be an estimate on esdb.
   */
  countAfter(after: Position): Promise<number>;
  /** Liveness probe for /health/ready. */
  ping(): Promise<void>;
  /** PostgreSQL only: how long readers have been held back by an older transaction (postgres.ts). */
  horizon?(): Promise<HorizonStatus>;
  /** PostgreSQL only: throws when new events would not sort after the log's (a logical restore; postgres.ts). */
  assertAppendsSortLast?(): Promise<void>;
  close(): Promise<void>;
}

export class StreamConflictError extends Error {
  override readonly name = 'StreamConflictError';
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  /** The stream's actual last revision, or -1 when it does not exist (undefined if unknown). */
  readonly actual: number | undefined;
  constructor(streamId: string, expected: ExpectedRevision, actual: number | undefined) {
    super(
      `stream ${streamId}: expected revision ${String(expected)}, actual ${actual === undefined ? 'unknown' : String(actual)}`,
    );
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}
