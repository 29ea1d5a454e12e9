// Answers to POST commands sent with an Idempotency-Key, kept per user for a while so that a
// retry returns the first answer instead of running the command again (platform/http/idempotency.ts).
// key = '<METHOD> <path> <Idempotency-Key>' (the scope), owner_id = the caller's user id,
// request_hash = SHA-256 of the query and canonical JSON body. Only 2xx answers are kept; an
// 'in_progress' row is a claim by a request still running. Expired rows are purged lazily.
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
