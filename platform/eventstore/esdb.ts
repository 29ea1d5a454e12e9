// The EventStoreDB / KurrentDB adapter of the event store port (the production choice).
// Subscriptions are catch-up subscriptions to $all (persistent subscriptions do not keep order),
// consumed with `for await` so events are handled one batch after another, and wrapped in a
// re-subscribe loop because a subscription can drop without an error reaching us.
// Checkpoints are EventStoreDB's own (commit, prepare) positions.
import {
  ANY,
  END,
  EventStoreDBClient,
  NO_STREAM,
  BACKWARDS,
  FORWARDS,
  START as ESDB_START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { CURRENT_HASH_VERSION, eventDigest, GENESIS, link } from './hash-chain.ts';
import {
  START,
  StreamConflictError,
  comparePositions,
  eventMetadataSchema,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
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

export interface EsdbEventStoreOptions {
  readonly connectionString: string;
  readonly upcasters?: UpcasterRegistry;
  readonly onError?: (error: unknown) => void;
  /** Upper bound when counting events for lag figures (beyond it the count is reported as the bound). */
  readonly countLimit?: number;
}

const isSystem = (type: string, streamId: string) => type.startsWith('$') || streamId.startsWith('$');
const isStart = (p: Position | undefined) => !p || (p.commit === START.commit && p.prepare === START.prepare);

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'any') return ANY;
  if (expected === 'no_stream') return NO_STREAM;
  return BigInt(expected);
}

export class EsdbEventStore implements EventStore {
  readonly kind = 'esdb' as const;
  readonly client: EventStoreDBClient;
  readonly #upcasters: UpcasterRegistry | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #countLimit: number;

  constructor(options: EsdbEventStoreOptions) {
    this.client = EventStoreDBClient.connectionString(options.connectionString);
    this.#upcasters = options.upcasters;
    this.#onError = options.onError ?? (() => undefined);
    this.#countLimit = options.countLimit ?? 100_000;
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult> {
    if (events.length === 0) throw new TypeError('append needs at least one event');
    // The hash chain needs the stream's last event, so "any" becomes "exactly what we read",
    // retried a few times if another writer got in between (the caller never sees a conflict).
    for (let attempt = 1; ; attempt++) {
      const previous = await this.#lastLink(streamId, options.expectedRevision);
      const expected: ExpectedRevision =
        options.expectedRevision === 'any'
          ? previous.revision < 0
            ? 'no_stream'
            : previous.revision
          : options.expectedRevision;
      try {
        return await this.#appendChained(streamId, events, expected, previous);
      } catch (error) {
        if (!(options.expectedRevision === 'any' && error instanceof StreamConflictError && attempt < 50)) throw error;
      }
    }
  }

  /**
   * EventStoreDB has no transaction across streams: one stream after another, in the order
   * given; a conflict stops there and the streams before it stay appended (port.ts).
   */
  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (new Set(appends.map((a) => a.streamId)).size !== appends.length)
      throw new TypeError('a stream appears twice in one appendMany');
    const results: AppendResult[] = [];
    for (const a of appends) results.push(await this.append(a.streamId, a.events, a));
    return results;
  }

  /** The revision and chain hash the next event links to (genesis for a new stream). */
  async #lastLink(streamId: string, expected: ExpectedRevision): Promise<{ revision: number; hash: Buffer }> {
    if (expected === 'no_stream') return { revision: -1, hash: GENESIS };
    try {
      const read = this.client.readStream(
        streamId,
        expected === 'any'
          ? { direction: BACKWARDS, fromRevision: END, maxCount: 1 }
          : { direction: FORWARDS, fromRevision: BigInt(expected), maxCount: 1 },
      );
      for await (const resolved of read) {
        const e = resolved.event;
        if (!e) continue;
        const hash = (e.metadata as Record<string, unknown> | undefined)?.chainHash;
        return { revision: Number(e.revision), hash: typeof hash === 'string' ? Buffer.from(hash, 'hex') : GENESIS };
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return { revision: -1, hash: GENESIS };
  }

  async #appendChained(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
    previous: { revision: number; hash: Buffer },
  ): Promise<AppendResult> {
    let chain = previous.hash;
    const payload = events.map((event, i) => {
      const metadata = eventMetadataSchema.parse(event.metadata);
      // The same chain as the Postgres adapter (hash-chain.ts), over the JSON text as stored here.
      const content = {
        streamId,
        revision: previous.revision + 1 + i,
        type: event.type,
        schemaVersion: metadata.schemaVersion,
        dataText: JSON.stringify(event.data),
        metadataText: JSON.stringify(metadata),
      };
      chain = link(chain, eventDigest(content));
      const chained = { ...metadata, chainHash: chain.toString('hex'), chainVersion: CURRENT_HASH_VERSION };
      return jsonEvent({ id: metadata.eventId, type: event.type, data: event.data, metadata: chained });
    });
    try {
      const result = await this.client.appendToStream(streamId, payload, {
        expectedRevision: toEsdbExpected(expected),
      });
      if (!result.position) throw new Error('EventStoreDB returned no position for an append');
      return {
        nextExpectedRevision: Number(result.nextExpectedRevision),
        position: { commit: result.position.commit, prepare: result.position.prepare },
      };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        const actual =
          error.actualVersion === 'no_stream'
            ? -1
            : typeof error.actualVersion === 'bigint'
              ? Number(error.actualVersion)
              : undefined;
        throw new StreamConflictError(streamId, expected, actual);
      }
      throw error;
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(streamId, {
        direction: FORWARDS,
        fromRevision: BigInt(options.fromRevision ?? 0),
        ...(options.maxCount !== undefined ? { maxCount: BigInt(options.maxCount) } : {}),
      });
      for await (const resolved of read) {
        const event = this.#toEvent(resolved);
        if (event) events.push(event);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return events;
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.#readAllPage(options.after, options.maxCount, options.eventTypes)).events;
  }

  async readAllStored(options: ReadStoredOptions): Promise<StoredEvent[]> {
    const toStored = (resolved: ResolvedEvent) => this.#toStored(resolved);
    return (await this.#readAllPage(options.after, options.maxCount, undefined, toStored)).events;
  }

  /** A page after `after` (exclusive), and how far the scan went (past filtered-out events). */
  async #readAllPage<T extends { type: string } = RecordedEvent>(
    after: Position | undefined,
    maxCount: number,
    eventTypes: readonly string[] | undefined,
    convert: (resolved: ResolvedEvent) => T | undefined = (resolved) => this.#toEvent(resolved) as T | undefined,
  ): Promise<{ events: T[]; scannedTo: Position | undefined }> {
    const types = eventTypes ? new Set(eventTypes) : undefined;
    const events: T[] = [];
    let scannedTo: Position | undefined;
    let from: ReadPosition = isStart(after) ? ESDB_START : { commit: after!.commit, prepare: after!.prepare };
    // Server-side maxCount counts every record, also system and filtered ones: read until the page
    // is full or the log ends, always with a bound.
    for (;;) {
      let seen = 0;
      let last: Position | undefined;
      for await (const resolved of this.client.readAll({
        direction: FORWARDS,
        fromPosition: from,
        maxCount: BigInt(maxCount + 1),
      })) {
        seen += 1;
        const position = resolved.event?.position;
        if (!position) continue;
        last = { commit: position.commit, prepare: position.prepare };
        if (after && !isStart(after) && comparePositions(last, after) <= 0) continue; // fromPosition is inclusive
        scannedTo = last;
        const event = convert(resolved);
        if (event && (!types || types.has(event.type))) events.push(event);
        if (events.length === maxCount) return { events, scannedTo };
      }
      if (seen <= maxCount || !last) return { events, scannedTo };
      from = last;
      after = last;
    }
  }

  async *subscribe(options: SubscribeOptions): AsyncGenerator<SubscriptionBatch> {
    const { signal } = options;
    const maxBatchSize = options.maxBatchSize ?? 500;
    const types = options.eventTypes ? new Set(options.eventTypes) : undefined;
    let checkpoint: Position = options.after ?? START;
    let failures = 0;
    while (!signal.aborted) {
      const subscription = this.client.subscribeToAll({
        fromPosition: isStart(checkpoint) ? ESDB_START : { commit: checkpoint.commit, prepare: checkpoint.prepare },
        filter: excludeSystemEvents(),
      });
      const unsubscribe = () => void subscription.unsubscribe().catch(() => undefined);
      signal.addEventListener('abort', unsubscribe);
      try {
        let batch: RecordedEvent[] = [];
        let batchEnd: Position | undefined;
        for await (const resolved of subscription as AsyncIterable<AllStreamResolvedEvent>) {
          failures = 0;
          const position = resolved.event?.position;
          if (!position) continue;
          const at: Position = { commit: position.commit, prepare: position.prepare };
          if (comparePositions(at, checkpoint) <= 0 && !isStart(checkpoint)) continue; // resubscribe starts inclusive
          const event = this.#toEvent(resolved);
          if (event && (!types || types.has(event.type))) batch.push(event);
          batchEnd = at;
          // Flush when full, or when nothing more is waiting in the subscription's buffer.
          if (batch.length >= maxBatchSize || subscription.readableLength === 0) {
            yield { events: batch, checkpoint: batchEnd };
            checkpoint = batchEnd;
            batch = [];
            batchEnd = undefined;
          }
          if (signal.aborted) break;
        }
        if (batchEnd) {
          yield { events: batch, checkpoint: batchEnd };
          checkpoint = batchEnd;
        }
      } catch (error) {
        if (signal.aborted) break;
        this.#onError(error);
      } finally {
        signal.removeEventListener('abort', unsubscribe);
        unsubscribe();
      }
      if (signal.aborted) break;
      // The subscription ended or dropped: resubscribe from the last delivered checkpoint.
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 100 * 2 ** Math.min(failures, 7))));
    }
  }

  async streamExists(streamId: string): Promise<boolean> {
    try {
      for await (const _ of this.client.readStream(streamId, {
        direction: FORWARDS,
        fromRevision: ESDB_START,
        maxCount: 1n,
      }))
        return true;
      return false;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return false;
      throw error;
    }
  }

  async headPosition(): Promise<Position | undefined> {
    // Newest first; system events (type or stream starting with $) are not ours.
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 4096n })) {
      const e = resolved.event;
      if (e?.position && !isSystem(e.type, e.streamId))
        return { commit: e.position.commit, prepare: e.position.prepare };
    }
    return undefined;
  }

  /** Counts forwards, bounded by `countLimit`: lag figures above it are reported as the bound. */
  async countAfter(after: Position): Promise<number> {
    let count = 0;
    let from: Position | undefined = after;
    while (count < this.#countLimit) {
      type Page = { events: RecordedEvent[]; scannedTo: Position | undefined };
      const page: Page = await this.#readAllPage(from, Math.min(4096, this.#countLimit - count), undefined);
      count += page.events.length;
      if (page.events.length === 0 || !page.scannedTo) break;
      from = page.scannedTo;
    }
    return count;
  }

  async ping(): Promise<void> {
    for await (const _ of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1n })) break;
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  /** The event as stored: the JSON text as JSON.stringify wrote it, the chain fields out of the metadata. */
  #toStored(resolved: ResolvedEvent): StoredEvent | undefined {
    const e = resolved.event;
    if (!e?.position || !e.isJson || isSystem(e.type, e.streamId)) return undefined;
    const { chainHash, chainVersion, ...metadata } = (e.metadata ?? {}) as Record<string, unknown>;
    const hash = typeof chainHash === 'string' ? chainHash : undefined;
    return {
      streamId: e.streamId,
      revision: Number(e.revision),
      position: { commit: e.position.commit, prepare: e.position.prepare },
      type: e.type,
      schemaVersion: typeof metadata.schemaVersion === 'number' ? metadata.schemaVersion : 1,
      dataText: JSON.stringify(e.data ?? {}),
      metadataText: JSON.stringify(metadata),
      hash,
      // Events chained before versions were recorded carry a chain hash and no version: version 1.
      hashVersion: typeof chainVersion === 'number' ? chainVersion : 1,
    };
  }

  #toEvent(resolved: ResolvedEvent): RecordedEvent | undefined {
    const e = resolved.event;
    if (!e?.position || !e.isJson || isSystem(e.type, e.streamId)) return undefined;
    const data = (e.data ?? {}) as EventData;
    const rawMetadata = (e.metadata ?? {}) as Record<string, unknown>;
    const stored = typeof rawMetadata.schemaVersion === 'number' ? rawMetadata.schemaVersion : 1;
    const upcast = this.#upcasters?.upcast(e.type, stored, data) ?? { data, schemaVersion: stored };
    const metadata = eventMetadataSchema.safeParse({ ...rawMetadata, schemaVersion: upcast.schemaVersion });
    if (!metadata.success) {
      this.#onError(new Error(`event ${e.id} in ${e.streamId} has no Vialog metadata; skipped`));
      return undefined;
    }
    return {
      type: e.type,
      data: upcast.data,
      metadata: metadata.data,
      streamId: e.streamId,
      revision: Number(e.revision),
      position: { commit: e.position.commit, prepare: e.position.prepare },
      recordedAt: e.created.toISOString(),
      ...(typeof rawMetadata.chainHash === 'string' ? { hash: rawMetadata.chainHash } : {}),
    };
  }
}

export function openEsdbEventStore(options: EsdbEventStoreOptions): EsdbEventStore {
  return new EsdbEventStore(options);
}
