// The files of imports and the rows they refused: an import job's stream holds its facts, not its
// file, so the file is kept here for the worker to read (again, after a restart) and the refused
// rows for errors.csv. A row refused twice (a resumed pass) replaces itself, keyed by its number.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE import_files (
      import_id  uuid PRIMARY KEY,
      lab_id     uuid NOT NULL,
      owner_id   text NOT NULL,
      content    bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw(`
    CREATE TABLE import_refused_rows (
      import_id uuid NOT NULL,
      row       integer NOT NULL,
      raw       jsonb NOT NULL,
      errors    jsonb NOT NULL,
      PRIMARY KEY (import_id, row)
    )`);
  // What an import created is counted from the events that carry its id as correlation id.
  await knex.raw(`CREATE INDEX events_correlation_idx ON events ((metadata->>'correlationId'), type)
    WHERE metadata->>'correlationId' IS NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS events_correlation_idx');
  await knex.raw('DROP TABLE IF EXISTS import_refused_rows');
  await knex.raw('DROP TABLE IF EXISTS import_files');
}
