// COPY in text format has its own escaping: every value must come back exactly as written,
// whatever characters a user put into it (a change reason with tabs, newlines, backslashes, "\N").
import test from 'ava';
import { createKnex } from '../../platform/database/knex.ts';
import { copyRows, type CopyValue } from '../../platform/database/copy.ts';
import { createTestDatabase } from '../support/database.ts';

test('copyRows writes every value back exactly, in the transaction, and rolls back with it', async (t) => {
  const db = await createTestDatabase('vialog_copy');
  const knex = createKnex({ url: db.url, poolMax: 2 });
  try {
    await knex.raw(
      'CREATE TABLE copied (id integer PRIMARY KEY, note text, doc jsonb, digest bytea, big numeric(20,0))',
    );
    const tricky = [
      'tab\there',
      'line\nbreak\r\nwindows',
      'back\\slash \\N \\t',
      '\\N',
      '',
      'ünïcödé ✓ 🧪',
      'quote " and \' and ,;',
    ];
    const rows: CopyValue[][] = tricky.map((note, i) => [
      i,
      note,
      JSON.stringify({ note, nested: { path: 'C:\\dir\\file', newline: '\n' } }),
      Buffer.from([0, 1, 254, 255, i]),
      18_446_744_073_709_551_615n - BigInt(i),
    ]);
    rows.push([99, null, 'null', null, null]);
    await knex.transaction((trx) => copyRows(trx, 'copied', ['id', 'note', 'doc', 'digest', 'big'], rows));
    const back = await knex('copied')
      .select<{ id: number; note: string | null; doc: unknown; digest: Buffer | null; big: string | null }[]>('*')
      .orderBy('id');
    t.deepEqual(
      back.map((r) => [
        r.id,
        r.note,
        r.doc === null ? 'null' : JSON.stringify(r.doc),
        r.digest,
        r.big === null ? null : BigInt(r.big),
      ]),
      rows.map(([id, note, doc, digest, big]) => [
        id,
        note,
        doc === 'null' ? 'null' : JSON.stringify(JSON.parse(String(doc))),
        digest,
        big,
      ]),
    );
    // A failing transaction takes its COPY with it.
    await t.throwsAsync(
      knex.transaction(async (trx) => {
        await copyRows(trx, 'copied', ['id', 'note'], [[100, 'rolled back']]);
        throw new Error('abort');
      }),
      { message: 'abort' },
    );
    t.is((await knex('copied').where('id', 100)).length, 0);
  } finally {
    await knex.destroy();
    await db.drop();
  }
});
