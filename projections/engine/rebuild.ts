// Zero-downtime rebuild: replay the log from START into fresh `__next_<token>` tables while the
// live tables keep serving (and, for a manual rebuild, keep being updated); then, with live batches
// paused, replay the few events the live runner applied meanwhile and swap the tables in one
// transaction. Readers see the old tables until the commit, the new ones after it. Events an
// operator skipped are passed over here too; an event that cannot be applied ends the rebuild
// with a PoisonEventError naming it (position and type).
import type { Knex } from 'knex';
import {
  START,
  comparePositions,
  type EventStore,
  type Position,
  type RecordedEvent,
} from '../../platform/eventstore/port.ts';
import { resetCheckpoint } from './checkpoints.ts';
import { PoisonEventError, safeError } from './errors.ts';
import type { SkippedEvents } from './operations.ts';
import { tableNamer, type Projection } from './projection.ts';
import type { SharedReadMember, SharedReads } from './shared-reads.ts';
import { concurrentIndex, createTables, dropNextTables, nextTableName, swapInNextTables } from './tables.ts';

/** Swap attempts that found a reader holding the live tables longer than the lock timeout. */
const SWAP_ATTEMPTS = 60;
const LOCK_NOT_AVAILABLE = '55P03';

export interface RebuildOptions {
  readonly knex: Knex;
  readonly store: EventStore;
  readonly projection: Projection;
  readonly batchSize: number;
  /** Aborting stops the rebuild between batches; the `__next` tables are dropped, the live ones untouched. */
  readonly signal: AbortSignal;
  /**
   * Runs `work` while no live batch is being applied and passes it the live checkpoint; the
   * runner adopts the checkpoint `work` returns.
   */
  readonly withLivePaused: (work: (liveCheckpoint: Position) => Promise<Position>) => Promise<void>;
  /** Phase 1 reads through it: rebuilds of the same engine that start together share one read. */
  readonly sharedReads: SharedReads;
  /** Told how far phase 1 has read the log, after each page. */
  readonly onScanned?: (position: Position) => void;
  /** Names this leader's copies (`<table>__next_<token>`). */
  readonly token: string;
  /** Events an operator skipped: not applied. */
  readonly skipped: SkippedEvents;
  /** lock_timeout of the swap; a swap that cannot take its locks in time is retried. Default 2000. */
  readonly swapLockTimeoutMs?: number;
}

export interface RebuildResult {
  readonly checkpoint: Position;
  readonly eventsApplied: number;
}

export class RebuildAbortedError extends Error {
  override readonly name = 'RebuildAbortedError';
}

export class CheckpointMovedError extends Error {
  override readonly name = 'CheckpointMovedError';
}

interface Progress {
  position: Position;
  applied: number;
  lastEvent: RecordedEvent | undefined;
}

export async function rebuildProjection(options: RebuildOptions): Promise<RebuildResult> {
  const { knex, projection, token } = options;
  try {
    const copies = (logical: string) => nextTableName(logical, token);
    const deferredIndexes = await createTables(knex, projection, copies, { deferIndexes: true });
    // Phase 1, live runner untouched: everything up to the head as of now.
    const progress: Progress = { position: START, applied: 0, lastEvent: undefined };
    await fillShared(options, progress, options.sharedReads.join(projection.eventTypes));
    for (const statement of deferredIndexes) {
      if (options.signal.aborted) throw new RebuildAbortedError(`rebuild of ${projection.name} stopped`);
      await knex.raw(concurrentIndex(statement));
    }
    // Phase 2, live runner paused: the remainder up to the live checkpoint, then the swap.
    for (let attempt = 1; ; attempt++) {
      try {
        const checkpoint = await swapIn(options, progress);
        return { checkpoint, eventsApplied: progress.applied };
      } catch (error) {
        // A reader held a live table past the lock timeout: let the live runner go on, try again.
        const code = (error as { code?: unknown }).code;
        if (code !== LOCK_NOT_AVAILABLE || attempt >= SWAP_ATTEMPTS || options.signal.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 50 * 2 ** attempt)));
      }
    }
  } catch (error) {
    await dropNextTables(knex, projection, token).catch(() => undefined);
    throw error;
  }
}

/** With live batches paused: the remainder up to the live checkpoint, then the swap. Returns the new checkpoint. */
async function swapIn(options: RebuildOptions, progress: Progress): Promise<Position> {
  const { knex, projection } = options;
  let checkpoint = START;
  await options.withLivePaused(async (live) => {
    await fill(options, progress, live);
    // The log head may be past the live checkpoint (live runner behind, or not running at a
    // version change): the new tables then start further on.
    checkpoint = comparePositions(progress.position, live) > 0 ? progress.position : live;
    await knex.transaction(async (trx) => {
      await swapInNextTables(trx, projection, options.token, options.swapLockTimeoutMs ?? 2_000);
      const moved = await resetCheckpoint(trx, projection.name, {
        from: live,
        to: checkpoint,
        version: projection.version,
        applied: progress.applied,
        lastEventAt: progress.lastEvent?.recordedAt,
        rebuilt: true,
      });
      if (!moved) throw new CheckpointMovedError(`checkpoint of ${projection.name} moved during the rebuild`);
    });
    return checkpoint;
  });
  return checkpoint;
}

/**
 * Applies a page to the copies in one transaction. When that fails for a reason that is not
 * transient, applies the events one by one (each in its own transaction) to find the one at
 * fault, and throws a PoisonEventError naming it.
 */
async function applyPage(options: RebuildOptions, events: readonly RecordedEvent[]): Promise<number> {
  const { knex, projection, token } = options;
  const table = tableNamer(projection, (logical) => nextTableName(logical, token));
  const fresh = options.skipped.filter(events);
  if (fresh.length === 0) return 0;
  try {
    await knex.transaction((trx) => projection.apply(fresh, { trx, table }));
  } catch (error) {
    if (safeError(error).transient) throw error;
    for (const event of fresh) {
      try {
        await knex.transaction((trx) => projection.apply([event], { trx, table }));
      } catch (single) {
        const reduced = safeError(single);
        if (reduced.transient) throw single;
        throw new PoisonEventError(event, 1, reduced);
      }
    }
  }
  return fresh.length;
}

/** Phase 1 from a shared read: this projection's events of each page, up to the head as of now. */
async function fillShared(options: RebuildOptions, progress: Progress, member: SharedReadMember): Promise<void> {
  const { projection, signal } = options;
  try {
    for (;;) {
      if (signal.aborted) throw new RebuildAbortedError(`rebuild of ${projection.name} stopped`);
      const page = await member.next();
      if (page.events.length > 0) {
        progress.applied += await applyPage(options, page.events);
        progress.lastEvent = page.events.at(-1);
      }
      // Other projections' events went by too: the next read (phase 2) starts after all of them.
      if (page.scannedTo) {
        progress.position = page.scannedTo;
        options.onScanned?.(page.scannedTo);
      }
      if (!page.more) return;
    }
  } finally {
    member.leave();
  }
}

/**
 * Applies events after `progress.position` up to `target` to the copies. The
 * next page is read while the current one is applied (reading and writing overlap, as in a
 * catch-up subscription).
 */
async function fill(options: RebuildOptions, progress: Progress, target: Position): Promise<void> {
  const { store, projection, batchSize, signal } = options;
  const read = (after: Position) => {
    const page = store.readAll({ after, maxCount: batchSize, eventTypes: projection.eventTypes });
    page.catch(() => undefined); // handled when awaited
    return page;
  };
  let next = read(progress.position);
  for (;;) {
    if (signal.aborted) throw new RebuildAbortedError(`rebuild of ${projection.name} stopped`);
    const page = await next;
    const events = page.filter((e) => comparePositions(e.position, target) <= 0);
    const more = events.length === batchSize;
    if (more) next = read(events.at(-1)!.position);
    if (events.length > 0) {
      progress.applied += await applyPage(options, events);
      progress.lastEvent = events.at(-1);
      progress.position = progress.lastEvent!.position;
    }
    if (!more) return;
  }
}
