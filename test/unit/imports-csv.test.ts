// CSV out: the export imports back unchanged (a fast-check property), and errors.csv carries every
// refused row with its errors and imports again once fixed.
import test from 'ava';
import fc from 'fast-check';
import type { ImportRow, RefusedRow } from '../../modules/imports/columns.ts';
import { errorsCsv, exportCsv } from '../../modules/imports/csv-out.ts';
import { parseImport } from '../../modules/imports/parse.ts';
import { typeRow, type RowRules } from '../../modules/imports/rules.ts';
import { textProblem } from '../../platform/text.ts';

const anyRules: RowRules = { check: () => [] };

async function* from<T>(items: readonly T[]) {
  for (const item of items) yield await Promise.resolve(item);
}
async function text(chunks: AsyncIterable<string>) {
  let out = '';
  for await (const chunk of chunks) out += chunk;
  return out;
}
async function reimport(csv: string) {
  const rows: ImportRow[] = [];
  for await (const parsed of parseImport([Buffer.from(csv)])) {
    const { value, errors } = typeRow(parsed, anyRules);
    if (errors.length > 0) throw new Error(JSON.stringify(errors));
    rows.push(value);
  }
  return rows;
}

// Text the API accepts: any code points but the refused controls and lone surrogates.
const clean = (min: number) =>
  fc.string({ unit: 'grapheme', minLength: min, maxLength: 30 }).filter((s) => textProblem(s) === undefined);
const withEdges = (min: number) =>
  fc.oneof(clean(min), fc.constantFrom('a,b', 'say "hi"', 'line\nbreak', 'cr\r\nlf', ' pad ', '#x', '=1+1'));
const optional = fc.option(withEdges(1), { nil: null });
const row: fc.Arbitrary<ImportRow> = fc
  .record({
    barcode: optional,
    sampleType: withEdges(1),
    subjectId: withEdges(1),
    collectionDate: withEdges(1),
    status: optional,
    quantity: fc.option(
      fc.record({
        value: fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
        unit: withEdges(1),
      }),
      { nil: null },
    ),
    box: optional,
    position: optional,
    notes: optional,
  })
  .filter((r) => (r.box === null) === (r.position === null));

test('export → parse gives back the same rows (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(row, { maxLength: 20 }), async (rows) => {
      t.deepEqual(await reimport(await text(exportCsv(from(rows)))), rows);
    }),
    { numRuns: 200 },
  );
});

test('the export starts with the header in the documented column order', async (t) => {
  const csv = await text(exportCsv(from([])));
  t.is(csv, 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes\r\n');
});

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes';
const raw = {
  barcode: 'B1',
  sampleType: 'urine',
  subjectId: 'P001',
  collectionDate: '2026-01-01',
  status: '',
  quantity: '',
  unit: '',
  box: '',
  position: '',
  notes: 'a,b',
};

test('errors.csv holds each refused row with its fields and its errors', async (t) => {
  const refused: RefusedRow = {
    row: 7,
    raw,
    errors: [
      { row: 7, column: 'sampleType', code: 'invalid_value', message: 'must be one of blood, saliva' },
      { row: 7, column: 'barcode', code: 'duplicate_barcode', message: 'row 2 has this barcode' },
    ],
  };
  const csv = await text(errorsCsv(from([refused])));
  t.is(
    csv,
    `${HEADER},errors\r\nB1,urine,P001,2026-01-01,,,,,,"a,b","sampleType: must be one of blood, saliva (invalid_value); barcode: row 2 has this barcode (duplicate_barcode)"\r\n`,
  );
});

test('a fixed errors.csv imports as it is: the errors column is passed over', async (t) => {
  const csv = await text(errorsCsv(from([{ row: 3, raw: { ...raw, sampleType: 'blood' }, errors: [] }])));
  const [again] = await reimport(csv);
  t.like(again, { barcode: 'B1', sampleType: 'blood', notes: 'a,b' });
});

test('refused characters are shown escaped in errors.csv, never written raw', async (t) => {
  const csv = await text(errorsCsv(from([{ row: 2, raw: { ...raw, notes: 'a\u0000b' }, errors: [] }])));
  t.false(csv.includes('\u0000'));
  t.true(csv.includes('a\\u0000b'));
});
