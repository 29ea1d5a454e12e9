// Zero-downtime rebuild: replay the log from START into fresh `__next` tables while the live
// tables keep serving (and, for a manual rebuild, keep being updated); then, with live batches
// paused, replay the few events the live runner applied meanwhile and swap the tables in one
// transaction. Readers see the old tables until the commit, the new ones after it.
import type { Knex } from 'knex';
import { START, comparePositions, type EventStore, type Position, type RecordedEvent } from '../../platform/eventstore/port.ts';
import { resetCheckpoint } from './checkpoints.ts';
import { tableNamer, type Projection } from './projection.ts';
import { createTables, dropNextTables, nextTableName, swapInNextTables } from './tables.ts';

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
  const { knex, projection } = options;
  try {
    await createTables(knex, projection, nextTableName);
    // Phase 1, live runner untouched: everything up to the head as of now.
    const progress: Progress = { position: START, applied: 0, lastEvent: undefined };
    await fill(options, progress, undefined);
    let checkpoint = START;
    // Phase 2, live runner paused: the remainder up to the live checkpoint, then the swap.
    await options.withLivePaused(async (live) => {
      await fill(options, progress, live);
      // The log head may be past the live checkpoint (live runner behind, or not running at a
      // version change): the new tables then start further on.
      checkpoint = comparePositions(progress.position, live) > 0 ? progress.position : live;
      await knex.transaction(async (trx) => {
        await swapInNextTables(trx, projection);
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
    return { checkpoint, eventsApplied: progress.applied };
  } catch (error) {
    await dropNextTables(knex, projection).catch(() => undefined);
    throw error;
  }
}

/**
 * Applies events after `progress.position` (up to `target`, if given) to the `__next` tables. The
 * next page is read while the current one is applied (reading and writing overlap, as in a
 * catch-up subscription).
 */
async function fill(options: RebuildOptions, progress: Progress, target: Position | undefined): Promise<void> {
  const { knex, store, projection, batchSize, signal } = options;
  const read = (after: Position) => {
    const page = store.readAll({ after, maxCount: batchSize, eventTypes: projection.eventTypes });
    page.catch(() => undefined); // handled when awaited
    return page;
  };
  let next = read(progress.position);
  for (;;) {
    if (signal.aborted) throw new RebuildAbortedError(`rebuild of ${projection.name} stopped`);
    const page = await next;
    const events = target ? page.filter((e) => comparePositions(e.position, target) <= 0) : page;
    const more = events.length === batchSize;
    if (more) next = read(events.at(-1)!.position);
    if (events.length > 0) {
      await knex.transaction((trx) => projection.apply(events, { trx, table: tableNamer(projection, nextTableName) }));
      progress.applied += events.length;
      progress.lastEvent = events.at(-1);
      progress.position = progress.lastEvent!.position;
    }
    if (!more) return;
  }
}
