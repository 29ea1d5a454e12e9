// Connections to PostgreSQL: one knex instance (which owns a pg pool) per process role.
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// bigint (int8) columns come back as strings; positions and counts are parsed where used.
// A `date` column stays 'YYYY-MM-DD': turning it into a JS Date would shift it by the time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v: string) => v);

export interface DatabaseOptions {
  readonly url: string;
  readonly poolMax?: number;
  /** Shown in pg_stat_activity, so an operator sees which role holds a connection. */
  readonly applicationName?: string;
  /** The server ends a session idle inside a transaction for longer (0 or unset: never). */
  readonly idleInTransactionTimeoutMs?: number;
}

export function createKnex(options: DatabaseOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: options.url,
      application_name: options.applicationName ?? 'vialog',
      // A session left idle in a transaction holds an xid, and with it the horizon every event
      // reader waits behind (platform/eventstore/postgres.ts): the server ends it instead.
      ...(options.idleInTransactionTimeoutMs
        ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }
        : {}),
    },
    pool: { min: 0, max: options.poolMax ?? 10 },
    acquireConnectionTimeout: 10_000,
  });
}
