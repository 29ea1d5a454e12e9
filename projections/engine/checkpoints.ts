// Reading and advancing a projection's row in projection_checkpoints.
import type { Knex } from 'knex';
import { START, type Position } from '../../platform/eventstore/port.ts';

/**
 * `retrying`: an attempt failed and is being retried with backoff. `failed`: an event could not be
 * applied after every attempt; the projection waits for an operator (resume or skip).
 */
export const projectionStates = ['running', 'catching_up', 'rebuilding', 'retrying', 'stopped', 'failed'] as const;
export type ProjectionState = (typeof projectionStates)[number];

export interface CheckpointRow {
  name: string;
  version: number;
  checkpoint_commit: string | null;
  checkpoint_prepare: string | null;
  events_applied: string;
  last_event_at: Date | null;
  status: ProjectionState;
  last_error: string | null;
  rebuild_requested_at: Date | null;
  rebuild_finished_at: Date | null;
  rebuild_error: string | null;
  /** How far a running rebuild has read the log (the position's prepare part); null otherwise. */
  rebuild_scanned_prepare: string | null;
  /** The event the projection gave up on (status failed): its position and type, never its content. */
  failed_position_commit: string | null;
  failed_position_prepare: string | null;
  failed_event_type: string | null;
  failed_attempts: number | null;
  failed_at: Date | null;
  /** An operator asked the failed projection to try again (after a fix, or a recorded skip). */
  resume_requested_at: Date | null;
  updated_at: Date;
}

export interface FailedEvent {
  readonly position: Position;
  readonly type: string;
  readonly attempts: number;
}

/** The event a failed projection stopped at, if any. */
export function failedEventOf(row: CheckpointRow | undefined): FailedEvent | undefined {
  if (!row || row.failed_position_commit === null || row.failed_position_prepare === null) return undefined;
  if (row.failed_event_type === null) return undefined;
  return {
    position: { commit: BigInt(row.failed_position_commit), prepare: BigInt(row.failed_position_prepare) },
    type: row.failed_event_type,
    attempts: row.failed_attempts ?? 0,
  };
}

const NO_FAILURE = {
  failed_position_commit: null,
  failed_position_prepare: null,
  failed_event_type: null,
  failed_attempts: null,
  failed_at: null,
} as const;

type Db = Knex | Knex.Transaction;

const TABLE = 'projection_checkpoints';

export function rowPosition(
  row: Pick<CheckpointRow, 'checkpoint_commit' | 'checkpoint_prepare'> | undefined,
): Position {
  if (!row || row.checkpoint_commit === null || row.checkpoint_prepare === null) return START;
  return { commit: BigInt(row.checkpoint_commit), prepare: BigInt(row.checkpoint_prepare) };
}

function positionColumns(p: Position): { checkpoint_commit: string | null; checkpoint_prepare: string | null } {
  return p.commit === START.commit && p.prepare === START.prepare
    ? { checkpoint_commit: null, checkpoint_prepare: null }
    : { checkpoint_commit: p.commit.toString(), checkpoint_prepare: p.prepare.toString() };
}

/** Restricts an update to the row whose checkpoint still is `p` (the compare in compare-and-set). */
function whereCheckpointIs(query: Knex.QueryBuilder, p: Position): Knex.QueryBuilder {
  const cols = positionColumns(p);
  return cols.checkpoint_commit === null
    ? query.whereNull('checkpoint_commit')
    : query.where({ checkpoint_commit: cols.checkpoint_commit, checkpoint_prepare: cols.checkpoint_prepare });
}

export async function readCheckpoint(db: Db, name: string): Promise<CheckpointRow | undefined> {
  return db<CheckpointRow>(TABLE).where({ name }).first();
}

export async function readCheckpoints(db: Db, names: readonly string[]): Promise<CheckpointRow[]> {
  return db<CheckpointRow>(TABLE)
    .select('*')
    .whereIn('name', [...names])
    .orderBy('name');
}

/** The projection's row, created (at START, with `version`) if missing; `created` says which. */
export async function ensureCheckpoint(
  db: Db,
  name: string,
  version: number,
): Promise<{ row: CheckpointRow; created: boolean }> {
  const inserted = await db(TABLE)
    .insert({ name, version, status: 'catching_up' })
    .onConflict('name')
    .ignore()
    .returning('name');
  const row = await readCheckpoint(db, name);
  if (!row) throw new Error(`checkpoint row for ${name} missing`);
  return { row, created: inserted.length > 0 };
}

/**
 * Compare-and-set: moves the checkpoint from `from` to `to` only if it still is `from`, in the
 * transaction that applied the batch. False when someone else moved it: the caller must roll
 * back, so a batch is never applied twice.
 */
export async function advanceCheckpoint(
  trx: Knex.Transaction,
  name: string,
  from: Position,
  to: Position,
  applied: number,
  lastEventAt: string | undefined,
  options: { relaxedCommit?: boolean } = {},
): Promise<boolean> {
  const base = trx(TABLE).where({ name });
  // relaxedCommit: this transaction's commit does not wait for the WAL flush. Set here, in the
  // checkpoint's own statement, to spare the batch a round trip for a separate SET LOCAL.
  if (options.relaxedCommit) base.whereRaw("set_config('synchronous_commit', 'off', true) IS NOT NULL");
  const query = base.update({
    ...positionColumns(to),
    events_applied: trx.raw('events_applied + ?', [applied]),
    ...(lastEventAt ? { last_event_at: lastEventAt } : {}),
    updated_at: trx.fn.now(),
  });
  return (await whereCheckpointIs(query, from)) === 1;
}

/**
 * Points the checkpoint at freshly built tables (rebuild swap, or new empty tables): compare-and-set
 * on `from`, sets the code version and the event count, and answers a pending rebuild request.
 */
export async function resetCheckpoint(
  trx: Knex.Transaction,
  name: string,
  options: {
    from: Position;
    to: Position;
    version: number;
    applied: number;
    lastEventAt: string | undefined;
    rebuilt: boolean;
  },
): Promise<boolean> {
  const query = trx(TABLE)
    .where({ name })
    .update({
      ...positionColumns(options.to),
      version: options.version,
      events_applied: options.applied,
      last_event_at: options.lastEventAt ?? null,
      // A rebuild ends with the swap: running from then on (past any event the old tables failed at).
      ...(options.rebuilt
        ? {
            rebuild_requested_at: null,
            rebuild_finished_at: trx.raw('clock_timestamp()'),
            rebuild_error: null,
            rebuild_scanned_prepare: null,
            status: 'running',
            last_error: null,
            ...NO_FAILURE,
          }
        : {}),
      updated_at: trx.fn.now(),
    });
  return (await whereCheckpointIs(query, options.from)) === 1;
}

/** Sets the state (and the error shown with it); clears a recorded failed event. `lastError`: safe text (errors.ts). */
export async function setStatus(
  db: Db,
  name: string,
  status: Exclude<ProjectionState, 'failed'>,
  lastError: string | null = null,
): Promise<void> {
  await db(TABLE)
    .where({ name })
    .update({ status, last_error: lastError, ...NO_FAILURE, updated_at: db.fn.now() });
}

/** Gives up on one event: status failed, with its position, type and the reduced error (no content). */
export async function markFailed(db: Db, name: string, failed: FailedEvent, lastError: string): Promise<void> {
  await db(TABLE)
    .where({ name })
    .update({
      status: 'failed',
      last_error: lastError,
      failed_position_commit: failed.position.commit.toString(),
      failed_position_prepare: failed.position.prepare.toString(),
      failed_event_type: failed.type,
      failed_attempts: failed.attempts,
      failed_at: db.raw('clock_timestamp()'),
      updated_at: db.fn.now(),
    });
}

/** Asks a failed projection's leader (in any process) to try again. False when there is no such row. */
export async function requestResume(db: Db, name: string): Promise<boolean> {
  return (
    (await db(TABLE)
      .where({ name })
      .update({ resume_requested_at: db.raw('clock_timestamp()') })) === 1
  );
}

/** Takes up a resume request: true when there was one. */
export async function takeResumeRequest(db: Db, name: string): Promise<boolean> {
  const taken = await db(TABLE)
    .where({ name })
    .whereNotNull('resume_requested_at')
    .update({ resume_requested_at: null });
  return taken === 1;
}

/** Marks a rebuild as wanted; the projection's leader picks it up. Returns the request time. */
export async function requestRebuild(db: Db, name: string): Promise<Date | undefined> {
  const rows = await db(TABLE)
    .where({ name })
    .update({ rebuild_requested_at: db.raw('clock_timestamp()') })
    .returning<{ rebuild_requested_at: Date }[]>('rebuild_requested_at');
  return rows[0]?.rebuild_requested_at;
}

export async function finishRebuildWithError(db: Db, name: string, error: string): Promise<void> {
  await db(TABLE)
    .where({ name })
    .update({
      rebuild_requested_at: null,
      rebuild_finished_at: db.raw('clock_timestamp()'),
      rebuild_error: error,
      rebuild_scanned_prepare: null,
      updated_at: db.fn.now(),
    });
}

/** Records how far a running rebuild has read the log (for progress shown elsewhere); null when it ended. */
export async function recordRebuildProgress(db: Db, name: string, scanned: Position | null): Promise<void> {
  await db(TABLE)
    .where({ name })
    .update({ rebuild_scanned_prepare: scanned ? scanned.prepare.toString() : null });
}
