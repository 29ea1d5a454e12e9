// The physical side of read models: creating a projection's tables, and swapping a freshly
// rebuilt copy into place in one transaction (readers see either the old or the new tables).
import type { Knex } from 'knex';
import type { Projection } from './projection.ts';

const NEXT_SUFFIX = '__next';

export const nextTableName = (logical: string): string => `${logical}${NEXT_SUFFIX}`;

async function tableExists(db: Knex | Knex.Transaction, name: string): Promise<boolean> {
  const result = await db.raw<{ rows: { exists: boolean }[] }>('SELECT to_regclass(?) IS NOT NULL AS exists', [name]);
  return result.rows[0]?.exists === true;
}

export async function liveTablesExist(db: Knex | Knex.Transaction, projection: Projection): Promise<boolean> {
  for (const logical of Object.keys(projection.tables)) if (!(await tableExists(db, logical))) return false;
  return true;
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

/** Replaces each live table by its `__next` copy, renaming the copy's indexes and constraints too. */
export async function swapInNextTables(trx: Knex.Transaction, projection: Projection): Promise<void> {
  for (const logical of Object.keys(projection.tables)) {
    const next = nextTableName(logical);
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

export async function dropNextTables(db: Knex | Knex.Transaction, projection: Projection): Promise<void> {
  for (const logical of Object.keys(projection.tables)) await db.raw(`DROP TABLE IF EXISTS "${nextTableName(logical)}" CASCADE`);
}
