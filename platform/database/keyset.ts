// Keyset pagination of a knex query in order of creation, (a timestamp, a uuid): ordered by both,
// started after the cursor's key, one row more than the page so that toPage
// (platform/http/pagination.ts) can tell whether a next page exists.
import type { Knex } from 'knex';

export interface KeysetPage {
  readonly limit: number;
  /** The key of the last row of the previous page: its creation time (ISO) and id. */
  readonly after?: { readonly createdAt: string; readonly id: string } | undefined;
}

/**
 * `columns`: the timestamp column, then the uuid column that breaks ties (qualified when the
 * query joins); `order`: oldest first unless 'desc'.
 */
export function pageByKeyset<Q extends Knex.QueryBuilder>(
  query: Q,
  [at, id]: readonly [at: string, id: string],
  page: KeysetPage,
  order: 'asc' | 'desc' = 'asc',
): Q {
  query.orderBy([
    { column: at, order },
    { column: id, order },
  ]);
  query.limit(page.limit + 1);
  if (page.after) {
    const operator = order === 'asc' ? '>' : '<';
    query.whereRaw(`(??, ??) ${operator} (?::timestamptz, ?::uuid)`, [at, id, page.after.createdAt, page.after.id]);
  }
  return query;
}

/** The number of rows a query (without its paging) matches. */
export async function countRows(query: Knex.QueryBuilder): Promise<number> {
  const [row] = await query.count<{ n: string | number }[]>({ n: '*' });
  return Number(row?.n ?? 0);
}
