// Verification of the log itself against a signed digest: the signature first, then one pass over
// the events in global order (never a read model) that recomputes the head and checks each
// stream's chain on the way. What it can tell apart:
//   modified    an event whose content no longer matches its stored hash, a hash removed (NULL)
//               after its stream's chain started, or — when nothing else explains it — a head
//               that no longer matches although the count does (hashes recomputed after an edit,
//               or events of different streams swapped)
//   missing     a gap in a stream's revisions (exact), or fewer events than the digest counts
//   inserted    a second event with a stream's revision, or more events than the digest counts
//   reordered   a stream's event that comes after a later revision of the same stream
//   emptied     no events at all up to the digest's position
// Stored digests (audit_digests) whose signatures hold serve as checkpoints: the first one the
// log no longer reproduces bounds where an unlocated change happened.
import { GENESIS, eventDigest, expectedChainHash, link, type HashedContent } from '../eventstore/hash-chain.ts';
import { START, comparePositions, formatPosition } from '../eventstore/port.ts';
import type { EventStore, Position, StoredEvent } from '../eventstore/port.ts';
import { digestSignatureProblem, digestState, type AuditDigest } from './digest.ts';
import type { AuditVerifyKey } from './keys.ts';
import { EMPTY_LOG, storedPages, type LogState } from './log-head.ts';

export const problemKinds = ['bad_signature', 'modified', 'missing', 'inserted', 'reordered', 'emptied'] as const;
export type ProblemKind = (typeof problemKinds)[number];

export interface LogProblem {
  readonly kind: ProblemKind;
  /** "<commit>/<prepare>" of the event concerned, when known. */
  readonly position?: string;
  readonly streamId?: string;
  readonly detail: string;
}

export interface LogVerification {
  readonly ok: boolean;
  readonly checkedEvents: number;
  /** The earliest position a problem names, or null. */
  readonly firstBrokenPosition: string | null;
  readonly problems: LogProblem[];
}

/** What a stream's chain needs from an event: its content, hash and hash version. */
export interface ChainedEvent extends HashedContent {
  readonly hash: string | undefined;
  readonly hashVersion: number;
}

/** One stream's chain, followed event by event in revision order. */
export class StreamLinks {
  revision = -1;
  #hash: string | undefined;
  #version = 0;
  #started = false;

  /** Checks `event` as the successor of the last one seen; undefined when its link holds, else why not. */
  check(event: ChainedEvent, digest: Buffer): string | undefined {
    let problem: string | undefined;
    if (event.hash === undefined) {
      // No hash is allowed only for events stored before chains existed, at the start of a stream.
      if (this.#started || event.hashVersion >= 2) problem = "its hash was removed after its stream's chain started";
    } else {
      const previous = this.#hash === undefined ? GENESIS : Buffer.from(this.#hash, 'hex');
      if (event.hashVersion < this.#version) problem = 'its hash follows an older formula than the event before it';
      else if (expectedChainHash(event.hashVersion, previous, event, digest).toString('hex') !== event.hash) {
        problem = 'its content no longer matches its stored hash';
      }
      this.#started = true;
      this.#version = event.hashVersion;
    }
    this.skip(event);
    return problem;
  }

  /** Continues after `event` without checking its link (the one before it is missing). */
  skip(event: ChainedEvent): void {
    this.revision = event.revision;
    this.#hash = event.hash;
    if (event.hash !== undefined) {
      this.#started = true;
      this.#version = event.hashVersion;
    }
  }
}

interface Arrival {
  readonly event: StoredEvent;
  readonly digest: Buffer;
}

interface StreamState {
  readonly links: StreamLinks;
  /** Events that came out of revision order, checked once the pass is over. */
  irregular?: Arrival[];
}

interface Found {
  readonly kind: ProblemKind;
  readonly position?: Position;
  readonly streamId?: string;
  readonly detail: string;
}

/** The running pass: head, count, per-stream chains, checkpoints. */
class LogWalk {
  count = 0;
  head: Buffer = EMPTY_LOG.head;
  readonly #streams = new Map<string, StreamState>();
  readonly #found: Found[] = [];
  #missingRevisions = 0;
  #duplicates = 0;
  readonly #checkpoints: readonly LogState[];
  #nextCheckpoint = 0;
  #lastGood: Position | undefined;
  #firstBad: Position | undefined;

  constructor(checkpoints: readonly LogState[]) {
    this.#checkpoints = checkpoints;
  }

  add(event: StoredEvent): void {
    this.#passCheckpoints(event.position);
    const digest = eventDigest(event);
    this.head = link(this.head, digest);
    this.count += 1;
    let stream = this.#streams.get(event.streamId);
    if (!stream) {
      stream = { links: new StreamLinks() };
      this.#streams.set(event.streamId, stream);
    }
    if (stream.irregular) stream.irregular.push({ event, digest });
    else if (event.revision !== stream.links.revision + 1) stream.irregular = [{ event, digest }];
    else this.#check(stream.links, event, digest);
  }

  #check(links: StreamLinks, event: StoredEvent, digest: Buffer): void {
    const problem = links.check(event, digest);
    if (!problem) return;
    const { position, streamId } = event;
    this.#found.push({ kind: 'modified', position, streamId, detail: `Revision ${event.revision}: ${problem}.` });
  }

  /** Compares the state with every checkpoint before `before` (all of them when undefined). */
  #passCheckpoints(before: Position | undefined): void {
    for (;;) {
      const cp = this.#checkpoints[this.#nextCheckpoint];
      if (!cp || (before && comparePositions(cp.position, before) >= 0)) return;
      const holds = cp.eventCount === this.count && cp.head.equals(this.head);
      if (!holds) this.#firstBad ??= cp.position;
      else if (!this.#firstBad) this.#lastGood = cp.position;
      this.#nextCheckpoint += 1;
    }
  }

  /** Streams whose events came out of revision order: reorders, duplicates and gaps, then their chains. */
  #settleIrregular(): void {
    for (const [streamId, stream] of this.#streams) {
      if (!stream.irregular) continue;
      const { links } = stream;
      const seen = new Set<number>();
      let highest = links.revision;
      const unique: Arrival[] = [];
      for (const arrival of stream.irregular) {
        const { revision, position } = arrival.event;
        if (revision <= links.revision || seen.has(revision)) {
          this.#duplicates += 1;
          const detail = `A second event with revision ${revision}.`;
          this.#found.push({ kind: 'inserted', position, streamId, detail });
          continue;
        }
        if (revision < highest) {
          const detail = `Revision ${revision} comes after revision ${highest} of the same stream in the log's order.`;
          this.#found.push({ kind: 'reordered', position, streamId, detail });
        }
        highest = Math.max(highest, revision);
        seen.add(revision);
        unique.push(arrival);
      }
      unique.sort((a, b) => a.event.revision - b.event.revision);
      for (const { event, digest } of unique) {
        const expected = links.revision + 1;
        if (event.revision === expected) {
          this.#check(links, event, digest);
          continue;
        }
        this.#missingRevisions += event.revision - expected;
        const last = event.revision - 1;
        const gap = last === expected ? `Revision ${expected} is` : `Revisions ${expected}–${last} are`;
        const detail = `${gap} missing before this event.`;
        this.#found.push({ kind: 'missing', position: event.position, streamId, detail });
        links.skip(event);
      }
    }
  }

  #where(): string {
    const after = this.#lastGood
      ? `after ${formatPosition(this.#lastGood)} (the last stored digest the log still reproduces)`
      : 'anywhere from the first event';
    const upTo = this.#firstBad
      ? ` and at or before ${formatPosition(this.#firstBad)} (the first stored digest it no longer reproduces)`
      : '';
    return `${after}${upTo}`;
  }

  finish(claimed: LogState): LogVerification {
    this.#passCheckpoints(undefined);
    this.#settleIrregular();
    const found = this.#found;
    const at = formatPosition(claimed.position);
    if (this.count === 0 && claimed.eventCount > 0) {
      const detail = `The log holds no events up to ${at}; the digest counts ${claimed.eventCount}.`;
      found.push({ kind: 'emptied', detail });
    } else {
      // Deletions and insertions found in the streams explain part of the difference in count.
      const unexplained = claimed.eventCount - this.count - this.#missingRevisions + this.#duplicates;
      const counts = `the log holds ${this.count} events up to ${at}, the digest counts ${claimed.eventCount}`;
      const where = this.#where();
      if (unexplained > 0) {
        found.push({ kind: 'missing', detail: `${unexplained} event(s) missing (${counts}), ${where}.` });
      } else if (unexplained < 0) {
        found.push({ kind: 'inserted', detail: `${-unexplained} event(s) added (${counts}), ${where}.` });
      }
    }
    if (found.length === 0 && !this.head.equals(claimed.head)) {
      const why = 'an event was changed and its hashes recomputed, or events of different streams swapped places';
      const detail = `The events up to ${at} no longer reproduce the signed head, though their count matches: ${why}, `;
      found.push({ kind: 'modified', detail: `${detail}${this.#where()}.` });
    }
    return result(this.count, found);
  }
}

function result(checkedEvents: number, found: readonly Found[]): LogVerification {
  let first: Position | undefined;
  for (const f of found) {
    if (f.position && (!first || comparePositions(f.position, first) < 0)) first = f.position;
  }
  const problems = found.map((f) => ({
    kind: f.kind,
    ...(f.position ? { position: formatPosition(f.position) } : {}),
    ...(f.streamId !== undefined ? { streamId: f.streamId } : {}),
    detail: f.detail,
  }));
  const firstBrokenPosition = first ? formatPosition(first) : null;
  return { ok: problems.length === 0, checkedEvents, firstBrokenPosition, problems };
}

export interface VerifyLogOptions {
  /** Stored digests: those signed by a known key, up to the digest's position, serve as checkpoints. */
  readonly checkpoints?: readonly AuditDigest[];
  readonly pageSize?: number;
  /** Events checked so far and the digest's count (for progress on a terminal). */
  readonly onProgress?: (checked: number, total: number) => void;
}

/** Checks `digest`'s signature, then that the log itself still reproduces it. */
export async function verifyLog(
  store: EventStore,
  digest: AuditDigest,
  keys: readonly AuditVerifyKey[],
  options: VerifyLogOptions = {},
): Promise<LogVerification> {
  const signature = digestSignatureProblem(digest, keys);
  if (signature) return result(0, [{ kind: 'bad_signature', detail: `Not a digest we signed: ${signature}.` }]);
  const claimed = digestState(digest);
  const checkpoints = (options.checkpoints ?? [])
    .filter((d) => digestSignatureProblem(d, keys) === undefined)
    .map(digestState)
    .filter((s) => comparePositions(s.position, claimed.position) <= 0)
    .sort((a, b) => comparePositions(a.position, b.position));
  const walk = new LogWalk(checkpoints);
  const pageSize = options.pageSize ? { pageSize: options.pageSize } : {};
  const pages = storedPages(store, START, { upTo: claimed.position, ...pageSize });
  for await (const page of pages) {
    for (const event of page) walk.add(event);
    options.onProgress?.(walk.count, claimed.eventCount);
  }
  return walk.finish(claimed);
}
