// Events are facts, refused to everyone who edits them through SQL:
// - a statement trigger refuses UPDATE, DELETE and TRUNCATE on events, with no bypass setting
//   (the former `vialog.allow_event_rewrite` could be set by any role). Only the table's owner
//   or a superuser can get past it, by disabling the trigger: a DBA's act, caught by the signed
//   audit digests (docs/audit.md).
// - the group role vialog_runtime is what the service's runtime login gets (docs/operations.md):
//   SELECT and INSERT on events, never UPDATE, DELETE or TRUNCATE; full use of every other table;
//   CREATE in the schema for the read-model tables projections build. Migrations run as the owner
//   (DATABASE_MIGRATION_URL), which the runtime role is not and does not act as.
// Roles are cluster-wide: several databases on one server (tests) may race to create it.
import type { Knex } from 'knex';
import { READER_ROLE } from '../../platform/database/owner-scope.ts';
import { RUNTIME_ROLE } from '../../platform/database/runtime-role.ts';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION append_only_refused() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
    END $$`);
  await knex.raw('DROP TRIGGER events_no_update_delete ON events');
  await knex.raw('DROP FUNCTION events_are_immutable()');
  await knex.raw(`CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refused()`);
  await knex.raw(`DO $$
BEGIN
  BEGIN
    CREATE ROLE ${RUNTIME_ROLE} NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
END $$`);
  await knex.raw(`GRANT USAGE, CREATE ON SCHEMA public TO ${RUNTIME_ROLE}`);
  const dml = 'SELECT, INSERT, UPDATE, DELETE';
  await knex.raw(`GRANT ${dml} ON ALL TABLES IN SCHEMA public TO ${RUNTIME_ROLE}`);
  await knex.raw(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${RUNTIME_ROLE}`);
  await knex.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ${dml} ON TABLES TO ${RUNTIME_ROLE}`);
  await knex.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${RUNTIME_ROLE}`);
  await knex.raw(`REVOKE ALL ON events FROM ${RUNTIME_ROLE}`);
  await knex.raw(`GRANT SELECT, INSERT ON events TO ${RUNTIME_ROLE}`);
  // The runtime never migrates: the migration bookkeeping is the owner's.
  await knex.raw(`REVOKE ALL ON knex_migrations, knex_migrations_lock FROM ${RUNTIME_ROLE}`);
  // Per-user queries switch to the reader role (row-level security). Memberships are cluster-wide
  // too: a concurrent migration of another database may grant it at the same moment.
  await knex.raw(`DO $$
BEGIN
  GRANT ${READER_ROLE} TO ${RUNTIME_ROLE};
EXCEPTION WHEN unique_violation OR duplicate_object OR internal_error THEN NULL;
END $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${RUNTIME_ROLE}`);
  await knex.raw('DROP TRIGGER events_append_only ON events');
  await knex.raw(`CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'events are append-only (% on events refused)', TG_OP USING ERRCODE = 'restrict_violation';
    END $$`);
  await knex.raw(`CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable()`);
  await knex.raw('DROP FUNCTION append_only_refused()');
}
