// Every row rule of an import refused with its row and column: typing, the sample rules (the
// contract stand-in, and an injected set), and the file rules against an in-memory lab.
import test from 'ava';
import { contractRowRules } from '../../modules/imports/contract-rules.ts';
import { parseImport } from '../../modules/imports/parse.ts';
import type { LabLookups, PlaceAnswer, RowRules } from '../../modules/imports/rules.ts';
import { MAX_REPORTED_ERRORS, validateImport, ValidationTally } from '../../modules/imports/validate.ts';
import type { CheckedRow } from '../../modules/imports/rules.ts';

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes';
const now = () => new Date('2026-11-22T10:00:00Z');
const BOX = '44444444-4444-4444-8444-444444444444';

/** A lab with one 8 × 12 box (by id or by path), B1 taken, and one barcode in use. */
const lab: LabLookups = {
  knownBarcodes: (barcodes) => Promise.resolve(new Set(barcodes.filter((b) => b === 'old-1'))),
  positionFree: (places) =>
    Promise.resolve(
      places.map(({ box, position }): PlaceAnswer => {
        if (box !== BOX && box !== 'Freezer A / Box 1') return { state: 'unknown_box' };
        const m = /^([A-H])([0-9]{1,2})$/i.exec(position);
        if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) return { state: 'invalid_position' };
        return { state: position.toUpperCase() === 'B1' ? 'occupied' : 'free', unitId: BOX };
      }),
    ),
};

async function check(lines: readonly string[], rules: RowRules = contractRowRules(now), lookups = lab) {
  const out: CheckedRow[] = [];
  const text = `${HEADER}\n${lines.join('\n')}\n`;
  for await (const row of validateImport(parseImport([text]), { rules, lookups, batchSize: 2 })) out.push(row);
  return out;
}

/** One row with one field changed (by column), checked alone: its errors without the message. */
async function errorsOf(fields: Record<string, string>) {
  const row = { barcode: 'BC-1', sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-11-01' };
  const all = { ...row, ...fields };
  const line = HEADER.split(',')
    .map((c) => all[c as keyof typeof all] ?? '')
    .join(',');
  const [checked] = await check([line]);
  return checked!.errors.map(({ row: r, column, code }) => ({ row: r, column, code }));
}

test('a valid row becomes a typed row without errors', async (t) => {
  const [checked] = await check([`BC-1,blood,P001,2026-11-01,processing,1.5,mL,${BOX},a1,"x, y"`]);
  t.deepEqual(checked!.errors, []);
  t.is(checked!.unitId, BOX);
  t.deepEqual(checked!.value, {
    barcode: 'BC-1',
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: '2026-11-01',
    status: 'processing',
    quantity: { value: 1.5, unit: 'mL' },
    box: BOX,
    position: 'a1',
    notes: 'x, y',
  });
});

const cases: [string, Record<string, string>, string, string][] = [
  ['an empty sample type', { sampleType: '' }, 'sampleType', 'required'],
  ['an empty subject id', { subjectId: '' }, 'subjectId', 'required'],
  ['an empty collection date', { collectionDate: '' }, 'collectionDate', 'required'],
  ['an unknown sample type', { sampleType: 'urine' }, 'sampleType', 'invalid_value'],
  ['a malformed subject id', { subjectId: 'p1' }, 'subjectId', 'invalid_value'],
  ['a malformed date', { collectionDate: '2026-02-30' }, 'collectionDate', 'invalid_value'],
  ['a date in the future', { collectionDate: '2026-11-23' }, 'collectionDate', 'invalid_value'],
  ['a date over ten years back', { collectionDate: '2016-11-21' }, 'collectionDate', 'invalid_value'],
  ['an unknown status', { status: 'lost' }, 'status', 'invalid_value'],
  ['a final status', { status: 'disposed' }, 'status', 'invalid_value'],
  ['a quantity that is not a number', { quantity: '"1,5"', unit: 'mL' }, 'quantity', 'invalid_value'],
  ['a quantity of zero', { quantity: '0', unit: 'mL' }, 'quantity', 'invalid_value'],
  ['a quantity without a unit', { quantity: '2' }, 'unit', 'required'],
  ['a unit without a quantity', { unit: 'mL' }, 'quantity', 'required'],
  ['an unknown unit', { quantity: '2', unit: 'litre' }, 'unit', 'invalid_value'],
  ['a malformed barcode', { barcode: 'BC 1' }, 'barcode', 'invalid_value'],
  ['a box without a position', { box: BOX }, 'position', 'required'],
  ['a position without a box', { position: 'A1' }, 'box', 'required'],
  ['a malformed position', { box: BOX, position: '1A' }, 'position', 'invalid_value'],
  ['notes over 2,000 characters', { notes: 'n'.repeat(2001) }, 'notes', 'invalid_value'],
  ['a barcode of the lab', { barcode: 'OLD-1' }, 'barcode', 'barcode_taken'],
  ['an unknown box', { box: 'Freezer Z / Box 9', position: 'A1' }, 'box', 'unknown_box'],
  ['a position outside the grid', { box: BOX, position: 'A13' }, 'position', 'invalid_position'],
  ['an occupied position', { box: BOX, position: 'b1' }, 'position', 'position_occupied'],
];
for (const [name, fields, column, code] of cases) {
  test(`refused: ${name} (${column}, ${code})`, async (t) => {
    t.deepEqual(await errorsOf(fields), [{ row: 2, column, code }]);
  });
}

test('older dates pass when the age limit is off', async (t) => {
  const [checked] = await check(['BC-1,blood,P001,1990-05-01,,,,,,'], contractRowRules(now, 0));
  t.deepEqual(checked!.errors, []);
});

test('a barcode twice in the file (any case) is refused at the later row, naming the first', async (t) => {
  const checked = await check([
    'bc-7,blood,P001,2026-11-01,,,,,,',
    'x,blood,P001,2026-11-01,,,,,,',
    'BC-7,blood,P001,2026-11-01,,,,,,',
  ]);
  t.deepEqual(checked[0]!.errors, []);
  t.deepEqual(checked[2]!.errors, [
    { row: 4, column: 'barcode', code: 'duplicate_barcode', message: 'row 2 has this barcode' },
  ]);
});

test('a position claimed twice in the file, by id and by path, is refused at the later row', async (t) => {
  const checked = await check([
    `A,blood,P001,2026-11-01,,,,${BOX},C3,`,
    'B,blood,P001,2026-11-01,,,,Freezer A / Box 1,c3,',
  ]);
  t.deepEqual(checked[0]!.errors, []);
  t.like(checked[1]!.errors[0], { row: 3, column: 'position', code: 'duplicate_position', message: 'row 2 claims it' });
});

test('a refused row still claims its barcode: the later duplicate is reported too', async (t) => {
  const checked = await check(['D,blood,P001,2099-01-01,,,,,,', 'd,blood,P001,2026-11-01,,,,,,']);
  t.like(checked[0]!.errors[0], { column: 'collectionDate' });
  t.like(checked[1]!.errors[0], { column: 'barcode', code: 'duplicate_barcode' });
});

test('text errors from the parse stay, and the rules do not repeat them for that column', async (t) => {
  t.deepEqual(await errorsOf({ subjectId: 'P0\u000101' }), [{ row: 2, column: 'subjectId', code: 'invalid_text' }]);
});

test('injected rules judge the sample fields instead of the stand-in', async (t) => {
  const rules: RowRules = {
    check: (row) => (row.sampleType === 'blood' ? [{ column: 'sampleType', message: 'no blood here' }] : []),
  };
  const [blood, urine] = await check(['A,blood,P001,2026-11-01,,,,,,', 'B,urine,x,2099-99-99,,,,,,'], rules);
  t.deepEqual(blood!.errors, [{ row: 2, column: 'sampleType', code: 'invalid_value', message: 'no blood here' }]);
  t.deepEqual(urine!.errors, []);
});

test('the lab is asked once per batch, not once per row', async (t) => {
  let calls = 0;
  const counting: LabLookups = {
    knownBarcodes: (b) => (calls++, lab.knownBarcodes(b)),
    positionFree: (p) => (calls++, lab.positionFree(p)),
  };
  await check(
    Array.from({ length: 4 }, (_, i) => `X${i},blood,P001,2026-11-01,,,,${BOX},A${i + 1},`),
    undefined,
    counting,
  );
  t.is(calls, 4); // two batches of two rows, two lookups each
});

test('the tally counts rows and keeps only the first errors', async (t) => {
  const tally = new ValidationTally();
  const lines = Array.from({ length: MAX_REPORTED_ERRORS + 5 }, (_, i) => `Y${i},urine,P001,2026-11-01,,,,,,`);
  for (const row of await check(['ok,blood,P001,2026-11-01,,,,,,', ...lines])) tally.add(row);
  const summary = tally.summary();
  t.like(summary, { rows: MAX_REPORTED_ERRORS + 6, validRows: 1, invalidRows: MAX_REPORTED_ERRORS + 5 });
  t.is(summary.errors.length, MAX_REPORTED_ERRORS);
  t.is(summary.errors[0]!.row, 3);
});
