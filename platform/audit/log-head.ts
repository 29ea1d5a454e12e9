// The head of the whole log: a hash over every event in the order subscribers read them,
//   head(0) = 32 zero bytes,   head(n) = sha256( head(n-1) || digest(event n) )
// with digest() from platform/eventstore/hash-chain.ts (stream, revision, type, schema version,
// data, metadata as stored). Any event changed, removed, added or moved changes every later head.
// Computed through the event store port (readAllStored), so both adapters share it.
import { eventDigest, link } from '../eventstore/hash-chain.ts';
import { START, comparePositions, type EventStore, type Position, type StoredEvent } from '../eventstore/port.ts';

export interface LogState {
  /** The last event counted (START for none). */
  readonly position: Position;
  readonly eventCount: number;
  readonly head: Buffer;
}

export const EMPTY_LOG: LogState = Object.freeze({ position: START, eventCount: 0, head: Buffer.alloc(32) });

export const PAGE_SIZE = 5_000;

export interface ScanOptions {
  /** Stop after this position (inclusive). Default: the head of the log. */
  readonly upTo?: Position;
  readonly pageSize?: number;
  /** Called for every event, with its digest, before it is added to the head. */
  readonly onEvent?: (event: StoredEvent, digest: Buffer) => void;
  readonly onPage?: (state: LogState) => void;
  /** Stops between pages; the state returned is then that of the pages read. */
  readonly signal?: AbortSignal;
}

/**
 * Pages of stored events after `after`, up to `upTo`, each page read while the one before is
 * handled.
 */
export async function* storedPages(
  store: EventStore,
  after: Position,
  options: { upTo?: Position; pageSize?: number; signal?: AbortSignal } = {},
): AsyncGenerator<StoredEvent[]> {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const read = (from: Position) => store.readAllStored({ after: from, maxCount: pageSize });
  let next: Promise<StoredEvent[]> | undefined = read(after);
  while (next && !options.signal?.aborted) {
    let page = await next;
    next = undefined;
    const last = page.at(-1);
    const beyond = last && options.upTo && comparePositions(last.position, options.upTo) > 0;
    if (beyond) page = page.filter((e) => comparePositions(e.position, options.upTo!) <= 0);
    else if (last && page.length === pageSize) {
      next = read(last.position);
      next.catch(() => undefined); // handled when awaited
    }
    if (page.length > 0) yield page;
  }
}

/** The log state after reading on from `from` (up to `upTo`, or the head). */
export async function advance(store: EventStore, from: LogState, options: ScanOptions = {}): Promise<LogState> {
  let { position, eventCount, head } = from;
  for await (const page of storedPages(store, position, options)) {
    for (const event of page) {
      const digest = eventDigest(event);
      options.onEvent?.(event, digest);
      head = link(head, digest);
    }
    eventCount += page.length;
    position = page.at(-1)!.position;
    options.onPage?.({ position, eventCount, head });
  }
  return { position, eventCount, head };
}
