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
}

export function createKnex(options: DatabaseOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: { connectionString: options.url, application_name: options.applicationName ?? 'vialog' },
    pool: { min: 0, max: options.poolMax ?? 10 },
    acquireConnectionTimeout: 10_000,
  });
}
