// A projection that cannot apply an event is marked failed with that event's position and type
// (never its content) and waits for an operator: `resume` (after a fix) or `skip` (recorded as an
// event). `retrying` is the state between a failed attempt and giving up.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE projection_checkpoints
      ADD COLUMN failed_position_commit  numeric(20, 0),
      ADD COLUMN failed_position_prepare numeric(20, 0),
      ADD COLUMN failed_event_type       text,
      ADD COLUMN failed_attempts         integer,
      ADD COLUMN failed_at               timestamptz,
      ADD COLUMN resume_requested_at     timestamptz,
      DROP CONSTRAINT IF EXISTS projection_checkpoints_status_check,
      ADD CONSTRAINT projection_checkpoints_status_check
        CHECK (status IN ('running', 'catching_up', 'rebuilding', 'retrying', 'stopped', 'failed'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    UPDATE projection_checkpoints SET status = 'failed' WHERE status = 'retrying';
    ALTER TABLE projection_checkpoints
      DROP COLUMN failed_position_commit, DROP COLUMN failed_position_prepare, DROP COLUMN failed_event_type,
      DROP COLUMN failed_attempts, DROP COLUMN failed_at, DROP COLUMN resume_requested_at,
      DROP CONSTRAINT projection_checkpoints_status_check,
      ADD CONSTRAINT projection_checkpoints_status_check
        CHECK (status IN ('running', 'catching_up', 'rebuilding', 'stopped', 'failed'))`);
}
