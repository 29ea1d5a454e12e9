// For the knex CLI (e.g. `npx knex migrate:list`). The service itself migrates with
// `vialog migrate` / at start-up, using the same migration list.
import type { Knex } from 'knex';
import { loadConfig } from './platform/config.ts';
import { migrationSource } from './projections/migrations/index.ts';

const config = loadConfig();
if (!config.DATABASE_URL) {
  throw new Error(
    'knexfile: set DATABASE_URL (the embedded PostgreSQL is started by `vialog migrate`, not by the knex CLI)',
  );
}

const knexConfig: Knex.Config = {
  client: 'pg',
  connection: config.DATABASE_URL,
  migrations: { migrationSource },
};

export default knexConfig;
