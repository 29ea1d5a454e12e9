// Lists: ?limit (1–100, default 20) and an opaque ?cursor (base64url JSON of a keyset, validated
// against the list's own schema), answered as { items, nextCursor, total }.
//   query: z.strictObject({ ...paginationQuery, status: ... })       (the route's query schema)
//   ctx.body = await readPage(query, creationCursor, (page) => queries.list(knex, page), creationKey);
// where the read takes `limit + 1` rows after `page.after` (platform/database/keyset.ts), or by
// hand: decodeCursor, the read, toPage.
import { z } from 'zod';
import { isoDateTime } from '../text.ts';
import { HttpProblem } from './problem.ts';

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** Spread into a strict query schema. */
export const paginationQuery = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .default(DEFAULT_PAGE_SIZE)
    .meta({ description: `Page size, 1–${MAX_PAGE_SIZE}` }),
  cursor: z.string().max(512).optional().meta({ description: "Opaque: the previous page's nextCursor" }),
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total: number;
}

export type CursorKey = Record<string, string | number | null>;

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The keyset a cursor holds, or undefined without one; 400 invalid_query for a cursor we did not make. */
export function decodeCursor<S extends z.ZodType>(cursor: string | undefined, schema: S): z.infer<S> | undefined {
  if (cursor === undefined) return undefined;
  if (/^[A-Za-z0-9_-]+$/.test(cursor)) {
    try {
      const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through: not JSON
    }
  }
  throw new HttpProblem(400, 'invalid_query', 'The cursor is not valid.', {
    errors: [{ path: 'cursor', message: 'not a cursor from this list' }],
  });
}

/**
 * A page from rows fetched with `limit + 1`: the extra row only tells that there is a next page,
 * whose cursor is the key of the last row shown.
 */
export function toPage<Row, Item = Row>(
  rows: readonly Row[],
  limit: number,
  total: number,
  keyOf: (last: Row) => CursorKey,
  toItem?: (row: Row) => Item,
): Page<Item> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return {
    items: shown.map((row) => (toItem ? toItem(row) : (row as unknown as Item))),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
    total,
  };
}

/** The cursor of a list in order of creation: its last item's creation time and id. */
export const creationCursor = z.object({ createdAt: isoDateTime(), id: z.uuid() });
export type CreationKey = z.infer<typeof creationCursor>;
export const creationKey = ({ createdAt, id }: CreationKey): CreationKey => ({ createdAt, id });

/**
 * A list's answer: the query's cursor decoded with the list's schema, the page read after it
 * (with one row more, see toPage), and the next cursor made from the last item shown.
 */
export async function readPage<Key extends CursorKey, Item>(
  query: { readonly limit: number; readonly cursor?: string | undefined },
  cursor: z.ZodType<Key>,
  read: (page: { limit: number; after: Key | undefined }) => Promise<{ rows: Item[]; total: number }>,
  keyOf: (last: Item) => Key,
): Promise<Page<Item>> {
  const { rows, total } = await read({ limit: query.limit, after: decodeCursor(query.cursor, cursor) });
  return toPage(rows, query.limit, total, keyOf);
}

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable(), total: z.number().int() });
}
