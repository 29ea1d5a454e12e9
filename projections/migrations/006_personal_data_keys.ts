// Per-person data keys for crypto-shredding (platform/crypto/personal-data.ts), each wrapped by
// the master key. Erasure sets wrapped_key to NULL: the row stays as the record that it happened.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE personal_data_keys (
    subject_id   uuid PRIMARY KEY,
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE personal_data_keys');
}
