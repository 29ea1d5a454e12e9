// Reading and advancing a projection's row in projection_checkpoints.
import type { Knex } from 'knex';
import { START, type Position } from '../../platform/eventstore/port.ts';

export const projectionStates = ['running', 'catching_up', 'rebuilding', 'stopped', 'failed'] as const;
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
  updated_at: Date;
}

type Db = Knex | Knex.Transaction;

const TABLE = 'projection_checkpoints';

export function rowPosition(row: Pick<CheckpointRow, 'checkpoint_commit' | 'checkpoint_prepare'> | undefined): Position {
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
  return db<CheckpointRow>(TABLE).select('*').whereIn('name', [...names]).orderBy('name');
}

/** The projection's row, created (at START, with `version`) if missing; `created` says which. */
export async function ensureCheckpoint(db: Db, name: string, version: number): Promise<{ row: CheckpointRow; created: boolean }> {
  const inserted = await db(TABLE).insert({ name, version, status: 'catching_up' }).onConflict('name').ignore().returning('name');
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
  const query = base
    .update({
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
  options: { from: Position; to: Position; version: number; applied: number; lastEventAt: string | undefined; rebuilt: boolean },
): Promise<boolean> {
  const query = trx(TABLE)
    .where({ name })
    .update({
      ...positionColumns(options.to),
      version: options.version,
      events_applied: options.applied,
      last_event_at: options.lastEventAt ?? null,
      ...(options.rebuilt ? { rebuild_requested_at: null, rebuild_finished_at: trx.raw('clock_timestamp()'), rebuild_error: null, rebuild_scanned_prepare: null } : {}),
      updated_at: trx.fn.now(),
    });
  return (await whereCheckpointIs(query, options.from)) === 1;
}

export async function setStatus(db: Db, name: string, status: ProjectionState, lastError: string | null = null): Promise<void> {
  await db(TABLE).where({ name }).update({ status, last_error: lastError, updated_at: db.fn.now() });
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
    .update({ rebuild_requested_at: null, rebuild_finished_at: db.raw('clock_timestamp()'), rebuild_error: error, rebuild_scanned_prepare: null, updated_at: db.fn.now() });
}

/** Records how far a running rebuild has read the log (for progress shown elsewhere); null when it ended. */
export async function recordRebuildProgress(db: Db, name: string, scanned: Position | null): Promise<void> {
  await db(TABLE).where({ name }).update({ rebuild_scanned_prepare: scanned ? scanned.prepare.toString() : null });
}
