// Tamper evidence: each event's hash chaining it to the previous event of its stream
// (platform/eventstore/hash-chain.ts). Rows appended before this migration have none.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE events ADD COLUMN hash bytea');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE events DROP COLUMN hash');
}
