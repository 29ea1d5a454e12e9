// Signed audit digests (platform/audit/): each row is one signed statement of the whole log up to
// a position, as the service issued it (`digest` is exactly what was signed and published). The
// rows help an auditor locate tampering between two digests; they prove nothing on their own (a
// DBA can delete them), which is why every digest also goes to the service's log. Append-only, as
// the events are: the runtime role may read and add, never change or remove.
import type { Knex } from 'knex';
import { RUNTIME_ROLE } from '../../platform/database/runtime-role.ts';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_digests (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      position_commit  numeric(20, 0) NOT NULL,
      position_prepare numeric(20, 0) NOT NULL,
      event_count      bigint NOT NULL,
      trigger          text NOT NULL CHECK (trigger IN ('events', 'time', 'request', 'command')),
      digest           jsonb NOT NULL,
      created_at       timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw('CREATE INDEX audit_digests_position_idx ON audit_digests (position_commit, position_prepare)');
  await knex.raw(`CREATE TRIGGER audit_digests_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_digests
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refused()`);
  await knex.raw(`REVOKE ALL ON audit_digests FROM ${RUNTIME_ROLE}`);
  await knex.raw(`GRANT SELECT, INSERT ON audit_digests TO ${RUNTIME_ROLE}`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE audit_digests');
}
