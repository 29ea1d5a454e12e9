// Per-user queries under PostgreSQL row-level security, in one round trip.
//
// Per-user read-model tables carry a policy `owner_id = current_setting('vialog.user_id')`
// (see ownerPolicy). A query runs inside a read-only transaction that switches to the
// vialog_reader role (RLS applies to it, unlike to table owners and superusers) and sets the
// caller's id, so a query that forgets its owner filter still sees only the caller's rows.
//
// The whole transaction (BEGIN, SET LOCAL ROLE, set_config, the statements, COMMIT) goes as one
// simple-protocol message: one round trip instead of five. Parameters are therefore inlined as
// literals, escaped by the pg driver (escapeLiteral), never concatenated by callers.
import type { Knex } from 'knex';
import type pg from 'pg';

export const READER_ROLE = 'vialog_reader';
export const OWNER_SETTING = 'vialog.user_id';
/** The caller's groups (labs) as comma-separated UUIDs, for tables scoped to a group. */
export const SCOPE_SETTING = 'vialog.lab_ids';

/**
 * SQL true for a row whose group column is one of the caller's groups (as set for the transaction).
 * The groups are a sub-select, so PostgreSQL turns them into an array once per statement (an
 * init plan) instead of once per row it looks at.
 */
export const inCallerScope = (column = 'lab_id'): string =>
  `"${column}" = ANY((SELECT string_to_array(NULLIF(current_setting('${SCOPE_SETTING}', true), ''), ',')::uuid[])::uuid[])`;

/** DDL for a per-group table: RLS on, rows of the caller's groups only, read access for the reader role. */
export function scopePolicy(table: string, column = 'lab_id'): string {
  return `ALTER TABLE "${table}" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "${table}_scope_only" ON "${table}" FOR SELECT TO ${READER_ROLE}
  USING (${inCallerScope(column)});
GRANT SELECT ON "${table}" TO ${READER_ROLE}`;
}

/** DDL for a per-user table: RLS on, the owner policy, read access for the reader role. */
export function ownerPolicy(table: string, ownerColumn = 'owner_id'): string {
  return `ALTER TABLE "${table}" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "${table}_owner_only" ON "${table}" FOR SELECT TO ${READER_ROLE}
  USING ("${ownerColumn}" = NULLIF(current_setting('${OWNER_SETTING}', true), '')::uuid);
GRANT SELECT ON "${table}" TO ${READER_ROLE}`;
}

export type SqlParam = string | number | boolean | null;

export interface Statement {
  /** SQL with $1, $2, … placeholders (add casts in the SQL: $1::uuid, $2::date). */
  readonly sql: string;
  readonly params?: readonly SqlParam[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function inline(client: pg.ClientBase, statement: Statement): string {
  const params = statement.params ?? [];
  return statement.sql.replace(/\$(\d+)/g, (_m, index: string) => {
    const value = params[Number(index) - 1];
    if (value === undefined) throw new Error(`no value for $${index}`);
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`$${index} is not a finite number`);
      return String(value);
    }
    return client.escapeLiteral(value);
  });
}

/**
 * Runs the statements in one read-only transaction sent as one message (one round trip) and
 * returns each statement's rows, the `prelude` statements (role, settings) first.
 */
async function readOnly(
  knex: Knex,
  prelude: (client: pg.ClientBase) => string[],
  statements: readonly Statement[],
): Promise<unknown[][]> {
  // knex's pool hands out its pg clients; typed loosely by knex, so narrowed here.
  const pool = knex.client as {
    acquireConnection(): Promise<pg.ClientBase>;
    releaseConnection(client: pg.ClientBase): Promise<void>;
  };
  const client = await pool.acquireConnection();
  try {
    const text = ['BEGIN READ ONLY', ...prelude(client), ...statements.map((s) => inline(client, s)), 'COMMIT'].join(
      ';\n',
    );
    let results: pg.QueryResult | pg.QueryResult[];
    try {
      results = await client.query(text);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    const list = Array.isArray(results) ? results : [results];
    // Without BEGIN (first) and COMMIT (last).
    return list.slice(1, -1).map((r: pg.QueryResult) => r.rows as unknown[]);
  } finally {
    await pool.releaseConnection(client);
  }
}

/**
 * Runs the statements as `ownerId` under row-level security, in one read-only transaction, and
 * returns each statement's rows.
 */
export async function queryAsOwner<Rows extends unknown[][]>(
  knex: Knex,
  ownerId: string,
  statements: readonly Statement[],
): Promise<Rows> {
  if (!UUID.test(ownerId)) throw new Error('owner id must be a UUID');
  const prelude = (client: pg.ClientBase) => [
    `SET LOCAL ROLE ${READER_ROLE}`,
    `SELECT set_config('${OWNER_SETTING}', ${client.escapeLiteral(ownerId)}, true)`,
  ];
  return (await readOnly(knex, prelude, statements)).slice(2) as Rows;
}

/**
 * Runs the statements as `userId` under row-level security of the groups `scope` gives: a scalar
 * SQL expression (with $1 = the user's id) of their comma-separated group ids, evaluated in the
 * same transaction before the switch to the reader role, so a change of membership counts at
 * once. Every statement may use inCallerScope(); the groups are also returned first (null: none).
 */
export async function queryInScope<Rows extends unknown[][]>(
  knex: Knex,
  userId: string,
  scope: Statement,
  statements: readonly Statement[],
): Promise<[{ scope: string | null }[], ...Rows]> {
  if (!UUID.test(userId)) throw new Error('user id must be a UUID');
  const [settings, , ...rows] = await readOnly(
    knex,
    (client) => [
      `SELECT set_config('${OWNER_SETTING}', ${client.escapeLiteral(userId)}, true) AS user_id,
              NULLIF(set_config('${SCOPE_SETTING}', COALESCE((${inline(client, scope)}), ''), true), '') AS scope`,
      `SET LOCAL ROLE ${READER_ROLE}`,
    ],
    statements,
  );
  const scopeOf = (settings as { scope: string | null }[]).map(({ scope: groups }) => ({ scope: groups }));
  return [scopeOf, ...(rows as Rows)];
}

/** The same, without row-level security: for an administrator's reads across every owner. */
export async function queryUnscoped<Rows extends unknown[][]>(
  knex: Knex,
  statements: readonly Statement[],
): Promise<Rows> {
  return (await readOnly(knex, () => [], statements)) as Rows;
}
