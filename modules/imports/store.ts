// The import's file and the rows it refused, kept in tables (migration 012) so a restarted worker
// reads the file again and errors.csv lists every refused row. Created samples are counted from
// the events that carry the import id as correlation id: that count is the truth, never a memory.
import type { Knex } from 'knex';
import type { RawRow, RefusedRow, RowError } from './columns.ts';

export interface StoredFile {
  readonly content: Buffer;
  /** Who submitted the import: its samples are theirs. */
  readonly ownerId: string;
}

export async function keepFile(knex: Knex, importId: string, labId: string, ownerId: string, content: Buffer) {
  await knex('import_files').insert({ import_id: importId, lab_id: labId, owner_id: ownerId, content });
}

export async function storedFile(knex: Knex, importId: string): Promise<StoredFile | undefined> {
  const row = await knex('import_files')
    .where('import_id', importId)
    .first<{ content: Buffer; owner_id: string } | undefined>('content', 'owner_id');
  return row && { content: row.content, ownerId: row.owner_id };
}

export async function dropFile(knex: Knex, importId: string): Promise<void> {
  await knex('import_files').where('import_id', importId).delete();
}

export async function recordRefused(knex: Knex, importId: string, rows: readonly RefusedRow[]): Promise<void> {
  if (rows.length === 0) return;
  const values = rows.map((r) => ({
    import_id: importId,
    row: r.row,
    raw: JSON.stringify(r.raw),
    errors: JSON.stringify(r.errors),
  }));
  await knex('import_refused_rows').insert(values).onConflict(['import_id', 'row']).merge(['raw', 'errors']);
}

/** Rows the validation pass refused (not those refused when their sample was created). */
export async function refusedAtValidation(knex: Knex, importId: string): Promise<ReadonlySet<number>> {
  const rows = await knex('import_refused_rows')
    .where('import_id', importId)
    .whereRaw(`NOT (errors @> '[{"code":"refused"}]'::jsonb)`)
    .select<{ row: number }[]>('row');
  return new Set(rows.map((r) => r.row));
}

const PAGE = 1000;

/** Every refused row, in file order, a page at a time. */
export async function* refusedRows(knex: Knex, importId: string): AsyncGenerator<RefusedRow> {
  for (let after = 0; ;) {
    const page = await knex('import_refused_rows')
      .where('import_id', importId)
      .andWhere('row', '>', after)
      .orderBy('row')
      .limit(PAGE)
      .select<{ row: number; raw: RawRow; errors: RowError[] }[]>('row', 'raw', 'errors');
    for (const r of page) yield { row: r.row, raw: r.raw, errors: r.errors };
    if (page.length < PAGE) return;
    after = page.at(-1)!.row;
  }
}

/** How many samples the import created: registrations carrying its id as correlation id. */
export async function countCreated(knex: Knex, importId: string): Promise<number> {
  const row = await knex('events')
    .whereRaw(`metadata->>'correlationId' = ?`, [importId])
    .andWhere('type', 'SampleRegistered')
    .first<{ n: string }>(knex.raw('count(*) AS n'));
  return Number(row.n);
}
