// Bulk writes with COPY … FROM STDIN inside a knex transaction: PostgreSQL's cheapest way in for
// many rows (docs/projections.md), which is what a read-model rebuild of a million events is made of.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

export type CopyValue = string | number | bigint | Buffer | null;

const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One field in COPY's text format: \N for null, bytea as hex, the four special characters escaped. */
export function copyField(value: CopyValue): string {
  if (value === null) return '\\N';
  if (Buffer.isBuffer(value)) return `\\\\x${value.toString('hex')}`;
  if (typeof value !== 'string') return String(value);
  return SPECIAL.test(value) ? value.replace(SPECIALS, (c) => ESCAPES[c]!) : value;
}

const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;

/** The connection a knex transaction runs on (knex types its client as any). */
async function transactionConnection(trx: Knex.Transaction): Promise<unknown> {
  const client: unknown = trx.client;
  if (
    typeof client !== 'object' ||
    client === null ||
    !('acquireConnection' in client) ||
    typeof client.acquireConnection !== 'function'
  ) {
    throw new TypeError('not a knex transaction');
  }
  return (client.acquireConnection as () => Promise<unknown>).call(client);
}

/** Appends rows to `table` (columns in the given order) on the transaction's own connection. */
export async function copyRows(
  trx: Knex.Transaction,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly CopyValue[])[],
): Promise<void> {
  if (rows.length === 0) return;
  const connection = await transactionConnection(trx);
  if (!(connection instanceof pg.Client))
    throw new TypeError('COPY needs the PostgreSQL connection of the transaction');
  let text = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++)
      text += i === 0 ? copyField(row[i] as CopyValue) : `\t${copyField(row[i] as CopyValue)}`;
    text += '\n';
  }
  const sink = connection.query(copyFrom(`COPY "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`));
  await pipeline(Readable.from([text]), sink);
}
