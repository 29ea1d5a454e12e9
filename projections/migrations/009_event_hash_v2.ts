// Tamper evidence, version 2 (platform/eventstore/hash-chain.ts): the hash now covers the schema
// version too and length-prefixes stream and type. Each row says which formula its hash follows,
// so events hashed before keep verifying under version 1. Adding a column with a constant default
// rewrites no row (and fires no trigger): every existing row reads as version 1.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'ALTER TABLE events ADD COLUMN hash_version smallint NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2))',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE events DROP COLUMN hash_version');
}
