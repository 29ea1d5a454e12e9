// The role per-user queries run as (SET LOCAL ROLE vialog_reader inside their transaction), so
// PostgreSQL row-level security applies to them even when the service connects as the tables'
// owner or a superuser (who bypass it). Projections write as the connecting user, unaffected.
// Roles are cluster-wide: several databases on one server (tests) may race to create it.
import type { Knex } from 'knex';

import { READER_ROLE } from '../../platform/database/owner-scope.ts';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`DO $$
BEGIN
  BEGIN
    CREATE ROLE ${READER_ROLE} NOLOGIN NOINHERIT;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  -- The service's own user must be allowed to switch to it (superusers may anyway).
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    BEGIN
      EXECUTE format('GRANT ${READER_ROLE} TO %I', current_user);
    EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL;
    END;
  END IF;
END $$`);
  await knex.raw(`GRANT USAGE ON SCHEMA public TO ${READER_ROLE}`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`REVOKE USAGE ON SCHEMA public FROM ${READER_ROLE}`);
}
