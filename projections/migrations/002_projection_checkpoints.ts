// Where each projection is: its checkpoint (a Position), its code version and its state.
// The checkpoint advances in the same transaction as the projection's table writes.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE projection_checkpoints (
      name               text PRIMARY KEY,
      version            integer NOT NULL,
      checkpoint_commit  numeric(20, 0),
      checkpoint_prepare numeric(20, 0),
      events_applied     bigint NOT NULL DEFAULT 0,
      last_event_at      timestamptz,
      status             text NOT NULL DEFAULT 'stopped',
      last_error         text,
      rebuild_requested_at timestamptz,
      updated_at         timestamptz NOT NULL DEFAULT now()
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS projection_checkpoints');
}
