// Two database roles (docs/operations.md): the owner runs migrations and owns the events table;
// the service runs as a login that is a member of vialog_runtime, which may insert events but not
// update, delete or truncate them (projections/migrations/010_events_immutable_by_privilege.ts).
import type { Knex } from 'knex';

export const RUNTIME_ROLE = 'vialog_runtime';

/** As the owner: makes the service's login (the role `runtime` connects as) a member of vialog_runtime. */
export async function grantRuntimeRole(owner: Knex, runtime: Knex): Promise<string> {
  const { rows } = await runtime.raw<{ rows: { name: string }[] }>('SELECT current_user AS name');
  const login = rows[0]!.name;
  const isMember = async () => {
    const sql = `SELECT pg_has_role(?, '${RUNTIME_ROLE}', 'MEMBER') AS member`;
    return (await owner.raw<{ rows: { member: boolean }[] }>(sql, [login])).rows[0]?.member === true;
  };
  if (await isMember()) return login;
  try {
    await owner.raw(`GRANT ${RUNTIME_ROLE} TO ??`, [login]);
  } catch (error) {
    // Several processes starting at once may grant it together (memberships are cluster-wide).
    if (!(await isMember())) throw error;
  }
  return login;
}

/**
 * Why the service's own role could rewrite events (a superuser, or the events table's owner, who
 * can disable the append-only trigger), or undefined when it cannot.
 */
export async function eventRewriteRisk(knex: Knex): Promise<string | undefined> {
  const { rows } = await knex.raw<{ rows: { superuser: boolean; owner: boolean | null }[] }>(
    `SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
            (SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c
              WHERE c.oid = to_regclass('events')) AS owner`,
  );
  const row = rows[0];
  if (row?.superuser) return 'the service connects as a superuser';
  if (row?.owner) return "the service's role owns the events table";
  return undefined;
}
