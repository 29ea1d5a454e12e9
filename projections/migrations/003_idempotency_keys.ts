// Answers to POST commands sent with an Idempotency-Key, kept per user for a while so that a
// retry returns the first answer instead of running the command again.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE idempotency_keys (
      owner_id        text NOT NULL,
      key             text NOT NULL,
      request_hash    text NOT NULL,
      state           text NOT NULL CHECK (state IN ('in_progress', 'completed')),
      response_status integer,
      response_headers jsonb,
      response_body   jsonb,
      created_at      timestamptz NOT NULL DEFAULT now(),
      expires_at      timestamptz NOT NULL,
      PRIMARY KEY (owner_id, key)
    )`);
  await knex.raw('CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS idempotency_keys');
}
