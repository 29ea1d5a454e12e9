// Reading and advancing a projection's checkpoint row (projection_checkpoints).
import type { Knex } from 'knex';
import { START, type Position } from '../../platform/eventstore/port.ts';

export type ProjectionState = 'starting' | 'catching_up' | 'running' | 'rebuilding' | 'stopped' | 'failed';

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
  updated_at: Date;
}

export function rowPosition(row: Pick<CheckpointRow, 'checkpoint_commit' | 'checkpoint_prepare'> | undefined): Position {
  if (!row || row.checkpoint_commit === null || row.checkpoint_prepare === null) return START;
  return { commit: BigInt(row.checkpoint_commit), prepare: BigInt(row.checkpoint_prepare) };
}

const positionColumns = (p: Position) =>
  p.commit === START.commit && p.prepare === START.prepare
    ? { checkpoint_commit: null, checkpoint_prepare: null }
    : { checkpoint_commit: p.commit.toString(), checkpoint_prepare: p.prepare.toString() };

export async function readCheckpoint(db: Knex | Knex.Transaction, name: string): Promise<CheckpointRow | undefined> {
  return db<CheckpointRow>('projection_checkpoints').where({ name }).first();
}

export async function readAllCheckpoints(db: Knex): Promise<CheckpointRow[]> {
  return db<CheckpointRow>('projection_checkpoints').select('*').orderBy('name');
}

export async function ensureCheckpoint(db: Knex, name: string, version: number): Promise<CheckpointRow> {
  await db('projection_checkpoints').insert({ name, version, status: 'starting' }).onConflict('name').ignore();
  const row = await readCheckpoint(db, name);
  if (!row) throw new Error(`checkpoint row for ${name} missing`);
  return row;
}

/**
 * Compare-and-set: moves the checkpoint from `from` to `to` only if it still is `from`.
 * Returns false when another runner moved it, so a batch can never be applied twice.
 */
export async function advanceCheckpoint(
  trx: Knex.Transaction,
  name: string,
  from: Position,
  to: Position,
  applied: number,
  lastEventAt: string | undefined,
): Promise<boolean> {
  const fromCols = positionColumns(from);
  const query = trx('projection_checkpoints')
    .where({ name })
    .update({
      ...positionColumns(to),
      events_applied: trx.raw('events_applied + ?', [applied]),
      ...(lastEventAt ? { last_event_at: lastEventAt } : {}),
      updated_at: trx.fn.now(),
    });
  if (fromCols.checkpoint_commit === null) query.whereNull('checkpoint_commit');
  else query.where({ checkpoint_commit: fromCols.checkpoint_commit, checkpoint_prepare: fromCols.checkpoint_prepare });
  return (await query) === 1;
}

export async function resetCheckpoint(trx: Knex.Transaction, name: string, version: number, to: Position, applied: number): Promise<void> {
  await trx('projection_checkpoints')
    .where({ name })
    .update({ ...positionColumns(to), version, events_applied: applied, rebuild_requested_at: null, updated_at: trx.fn.now() });
}

export async function setStatus(db: Knex, name: string, status: ProjectionState, lastError: string | null = null): Promise<void> {
  await db('projection_checkpoints').where({ name }).update({ status, last_error: lastError, updated_at: db.fn.now() });
}

export async function requestRebuild(db: Knex, name: string): Promise<boolean> {
  return (await db('projection_checkpoints').where({ name }).update({ rebuild_requested_at: db.fn.now() })) === 1;
}
