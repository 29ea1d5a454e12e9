// Schema migrations, run in this order by `vialog migrate` and at start-up (knex keeps the
// applied list in knex_migrations). Files are listed here, not discovered, so the order is
// explicit and a bundler or type-stripping loader never has to scan a directory.
// Read-model tables themselves are created by their projections (see projections/engine),
// because a rebuild must be able to create fresh copies of them.
import type { Knex } from 'knex';
import * as eventStore from './001_event_store.ts';
import * as projectionCheckpoints from './002_projection_checkpoints.ts';
import * as idempotencyKeys from './003_idempotency_keys.ts';
import * as readerRole from './004_read_model_reader_role.ts';
import * as hashChain from './005_event_hash_chain.ts';
import * as personalDataKeys from './006_personal_data_keys.ts';
import * as rebuildProgress from './007_rebuild_progress.ts';
import * as projectionFailures from './008_projection_failures.ts';
import * as eventHashV2 from './009_event_hash_v2.ts';
import * as eventsImmutable from './010_events_immutable_by_privilege.ts';
import * as auditDigests from './011_audit_digests.ts';
import * as importFiles from './012_import_files.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const migrations: Record<string, Migration> = {
  '001_event_store': eventStore,
  '002_projection_checkpoints': projectionCheckpoints,
  '003_idempotency_keys': idempotencyKeys,
  '004_read_model_reader_role': readerRole,
  '005_event_hash_chain': hashChain,
  '006_personal_data_keys': personalDataKeys,
  '007_rebuild_progress': rebuildProgress,
  '008_projection_failures': projectionFailures,
  '009_event_hash_v2': eventHashV2,
  '010_events_immutable_by_privilege': eventsImmutable,
  '011_audit_digests': auditDigests,
  '012_import_files': importFiles,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve(Object.keys(migrations)),
  getMigrationName: (name) => name,
  getMigration: (name) => {
    const m = migrations[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return Promise.resolve(m);
  },
};

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
