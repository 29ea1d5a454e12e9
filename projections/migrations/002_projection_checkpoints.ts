// Where each projection is: its checkpoint (a Position), its code version and its state.
// The checkpoint advances in the same transaction as the projection's table writes
// (projections/engine/checkpoints.ts), with a compare-and-set on the previous value.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Positions are unsigned 64-bit on EventStoreDB, so numeric(20, 0) rather than bigint.
  // NULL checkpoint = nothing applied yet (START).
  await knex.raw(`
    CREATE TABLE projection_checkpoints (
      name                 text PRIMARY KEY,
      version              integer NOT NULL,
      checkpoint_commit    numeric(20, 0),
      checkpoint_prepare   numeric(20, 0),
      events_applied       bigint NOT NULL DEFAULT 0,
      last_event_at        timestamptz,
      status               text NOT NULL DEFAULT 'stopped'
                           CHECK (status IN ('running', 'catching_up', 'rebuilding', 'stopped', 'failed')),
      last_error           text,
      rebuild_requested_at timestamptz,
      rebuild_finished_at  timestamptz,
      rebuild_error        text,
      updated_at           timestamptz NOT NULL DEFAULT now(),
      CHECK ((checkpoint_commit IS NULL) = (checkpoint_prepare IS NULL))
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS projection_checkpoints');
}
