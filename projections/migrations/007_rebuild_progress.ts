// How far a running rebuild has read the log, so whoever asked for it (the CLI, in another
// process than the leader that rebuilds) can show progress and an ETA. NULL when none runs.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE projection_checkpoints ADD COLUMN rebuild_scanned_prepare numeric(20, 0)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE projection_checkpoints DROP COLUMN IF EXISTS rebuild_scanned_prepare');
}
