// Lists: ?limit (1–100, default 20) and an opaque ?cursor (base64url JSON of a keyset), answered
// as { items, nextCursor, total }.
import { z } from 'zod';
import { HttpProblem } from './problem.ts';

export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional(),
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total: number;
}

export function encodeCursor(key: Record<string, string | number | null>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(cursor: string | undefined, schema: S): z.infer<S> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: a cursor we did not make
  }
  throw new HttpProblem(400, 'invalid_query', 'The cursor is not valid.', { errors: [{ path: 'cursor', message: 'not a cursor from this list' }] });
}

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable(), total: z.number().int() });
}
