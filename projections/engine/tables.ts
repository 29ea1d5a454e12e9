// The physical side of read models: creating a projection's tables, and swapping a freshly
// rebuilt copy into place in one transaction (readers see either the old or the new tables).
// A rebuild's copies carry a token unique to the leader that builds them (`<table>__next_<token>`):
// should two processes ever both believe they lead, their rebuilds never write into one table.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Projection } from './projection.ts';

const NEXT_SUFFIX = '__next';

/**
 * A read-model table's DDL as `Projection.tables` takes it: CREATE TABLE with the columns and the
 * primary key, whose constraint is named after the physical table (so a rebuilt copy is renamed
 * into place with it), then the statements that follow (indexes named `${t}_…`, grants, policies).
 */
export function tableDdl(
  primaryKey: string,
  columns: string,
  ...then: ((t: string) => string)[]
): (t: string) => string {
  return (t) =>
    [
      `CREATE TABLE "${t}" (\n  ${columns.trim()},\n  CONSTRAINT "${t}_pkey" PRIMARY KEY (${primaryKey}))`,
      ...then.map((statement) => statement(t)),
    ].join(';\n');
}

/** A fresh token for one leader's rebuild tables. */
export const newRebuildToken = (): string => randomBytes(3).toString('hex');

export const nextTableName = (logical: string, token: string): string => `${logical}${NEXT_SUFFIX}_${token}`;

async function tableExists(db: Knex | Knex.Transaction, name: string): Promise<boolean> {
  const result = await db.raw<{ rows: { exists: boolean }[] }>('SELECT to_regclass(?) IS NOT NULL AS exists', [
    `"${name}"`,
  ]);
  return result.rows[0]?.exists === true;
}

/** The projection's tables (logical names) that do not exist. */
export async function missingLiveTables(db: Knex | Knex.Transaction, projection: Projection): Promise<string[]> {
  const missing: string[] = [];
  for (const logical of Object.keys(projection.tables)) if (!(await tableExists(db, logical))) missing.push(logical);
  return missing;
}

export async function liveTablesExist(db: Knex | Knex.Transaction, projection: Projection): Promise<boolean> {
  return (await missingLiveTables(db, projection)).length === 0;
}

/**
 * Creates the tables. With `deferIndexes`, secondary indexes (`CREATE INDEX` statements of the
 * DDL) are not created but returned, to be built once the tables are filled: a rebuild loads
 * every row, and one index build after the load is cheaper than maintaining it row by row.
 */
export async function createTables(
  db: Knex | Knex.Transaction,
  projection: Projection,
  physical: (logical: string) => string,
  options: { deferIndexes?: boolean } = {},
): Promise<string[]> {
  const deferred: string[] = [];
  for (const [logical, ddl] of Object.entries(projection.tables)) {
    const name = physical(logical);
    await db.raw(`DROP TABLE IF EXISTS "${name}" CASCADE`);
    const text = ddl(name);
    // Split into statements only where that is safe: a dollar-quoted body may hold ";\n" itself.
    const statements = (text.includes('$$') ? [text] : text.split(/;\s*\n/))
      .map((statement) => statement.trim())
      .filter((statement) => statement !== '');
    const later = options.deferIndexes ? statements.filter((statement) => /^CREATE\s+INDEX\b/i.test(statement)) : [];
    await db.raw(statements.filter((statement) => !later.includes(statement)).join(';\n'));
    deferred.push(...later);
  }
  return deferred;
}

/**
 * A deferred index, built CONCURRENTLY: a plain CREATE INDEX holds a transaction id for the whole
 * build, and with it the horizon every event reader waits behind (platform/eventstore/postgres.ts);
 * a concurrent build holds none. (It must run outside a transaction block.)
 */
export const concurrentIndex = (statement: string): string =>
  statement.replace(/^CREATE\s+INDEX\b(?!\s+CONCURRENTLY)/i, 'CREATE INDEX CONCURRENTLY');

/**
 * Replaces each live table by its rebuilt copy, renaming the copy's indexes and constraints too.
 * Runs with `lock_timeout`: the DROP needs an exclusive lock, and waiting behind a long reader
 * would queue every other reader behind the DROP. The caller retries a swap that timed out.
 */
export async function swapInNextTables(
  trx: Knex.Transaction,
  projection: Projection,
  token: string,
  lockTimeoutMs: number,
): Promise<void> {
  await trx.raw(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
  for (const logical of Object.keys(projection.tables)) {
    const next = nextTableName(logical, token);
    await trx.raw(`DROP TABLE IF EXISTS "${logical}" CASCADE`);
    await trx.raw(`ALTER TABLE "${next}" RENAME TO "${logical}"`);
    const indexes = await trx.raw<{ rows: { indexname: string }[] }>(
      `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?`,
      [logical],
    );
    for (const { indexname } of indexes.rows) {
      if (!indexname.startsWith(next)) continue;
      await trx.raw(`ALTER INDEX "${indexname}" RENAME TO "${logical}${indexname.slice(next.length)}"`);
    }
  }
}

/** Drops one rebuild's copies (with its token), or every leftover copy of any rebuild (without). */
export async function dropNextTables(
  db: Knex | Knex.Transaction,
  projection: Projection,
  token?: string,
): Promise<void> {
  for (const logical of Object.keys(projection.tables)) {
    if (token !== undefined) {
      await db.raw(`DROP TABLE IF EXISTS "${nextTableName(logical, token)}" CASCADE`);
      continue;
    }
    const leftovers = await db.raw<{ rows: { tablename: string }[] }>(
      `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND (tablename = ? OR tablename LIKE ?)`,
      [`${logical}${NEXT_SUFFIX}`, `${logical.replaceAll('_', '\\_')}\\_\\_next\\_%`],
    );
    for (const { tablename } of leftovers.rows) await db.raw(`DROP TABLE IF EXISTS "${tablename}" CASCADE`);
  }
}
