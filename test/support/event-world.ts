// A migrated test database with what commands and projections run on: knex, the PostgreSQL event
// store (upcasting old events on read, as in production) and a personal-data vault with a fresh
// master key.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { eventUpcasters } from '../../app/upcasters.ts';
import { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { openPostgresEventStore, type PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/** A user's command outside any request (no request, correlation or trace ids). */
export const userCause = (actorId: string): CommandCause => ({
  actorId,
  actorType: 'user',
  requestId: null,
  correlationId: null,
  causationId: null,
  traceparent: null,
  reason: null,
});

export interface EventWorld {
  readonly db: TestDatabase;
  readonly knex: Knex;
  readonly store: PostgresEventStore;
  readonly vault: PersonalDataVault;
  /** Closes the store and knex, then drops the database. */
  close(): Promise<void>;
}

export async function openEventWorld(prefix: string, options: { readonly knexPoolMax: number }): Promise<EventWorld> {
  const db = await createTestDatabase(prefix);
  const knex = createKnex({ url: db.url, poolMax: options.knexPoolMax });
  await migrateToLatest(knex);
  const store = openPostgresEventStore({ url: db.url, pollIntervalMs: 100, poolMax: 3, upcasters: eventUpcasters() });
  const vault = new PersonalDataVault(knex, randomBytes(32));
  return {
    db,
    knex,
    store,
    vault,
    async close() {
      await store.close();
      await knex.destroy();
      await db.drop();
    },
  };
}
