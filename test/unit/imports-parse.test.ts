// The streaming parse of import files: encodings, quoting, the header, the limits, text hygiene.
import test, { type ExecutionContext } from 'ava';
import type { DomainError } from '../../platform/commands/decision.ts';
import { digestFile } from '../../modules/imports/digest.ts';
import { parseImport, type ParsedRow } from '../../modules/imports/parse.ts';

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes';

async function rows(
  input: string | Buffer | readonly (string | Buffer)[],
  limits?: { maxBytes: number; maxRows: number },
) {
  const chunks: readonly (string | Buffer)[] = Array.isArray(input) ? input : [input as string | Buffer];
  const out: ParsedRow[] = [];
  const source = chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  for await (const row of parseImport(source, limits)) out.push(row);
  return out;
}

const fails = async (t: ExecutionContext, run: Promise<unknown>, like: Record<string, unknown>) => {
  const error = await t.throwsAsync<DomainError>(run);
  t.like(error, like);
  return error;
};

test('a plain file gives one raw row per data line, numbered as a spreadsheet numbers them', async (t) => {
  const parsed = await rows(
    `${HEADER}\nB1,blood,P001,2026-01-02,,,,,,\nB2,saliva,P002,2026-01-03,processing,1.5,mL,,,hi\n`,
  );
  t.is(parsed.length, 2);
  t.is(parsed[0]!.row, 2);
  t.is(parsed[1]!.row, 3);
  t.like(parsed[1]!.raw, { barcode: 'B2', sampleType: 'saliva', quantity: '1.5', unit: 'mL', notes: 'hi', box: '' });
  t.deepEqual(parsed[1]!.errors, []);
});

test('a UTF-8 byte-order mark before the header is dropped', async (t) => {
  const parsed = await rows(
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${HEADER}\nB1,blood,P001,2026-01-02,,,,,,\n`)]),
  );
  t.is(parsed[0]!.raw.barcode, 'B1');
});

test('quoted fields keep commas, doubled quotes and newlines, and stay one row', async (t) => {
  const parsed = await rows(
    `${HEADER}\r\nB1,blood,P001,2026-01-02,,,,,,"a, ""b""\nc"\r\nB2,blood,P001,2026-01-02,,,,,,\r\n`,
  );
  t.is(parsed[0]!.raw.notes, 'a, "b"\nc');
  t.is(parsed[1]!.row, 3);
});

test('a multi-byte character split across chunks is decoded whole', async (t) => {
  const bytes = Buffer.from(`${HEADER}\nB1,blood,P001,2026-01-02,,,,,,Zürich µL\n`);
  const cut = bytes.indexOf(0xc3) + 1;
  const parsed = await rows([bytes.subarray(0, cut), bytes.subarray(cut)]);
  t.is(parsed[0]!.raw.notes, 'Zürich µL');
});

test('columns may come in any order and optional ones may be left out', async (t) => {
  const parsed = await rows('subjectId,collectionDate,sampleType\nP001,2026-01-02,blood\n');
  t.like(parsed[0]!.raw, { subjectId: 'P001', sampleType: 'blood', barcode: '' });
});

test('an unknown column refuses the file, naming it', async (t) => {
  const error = await fails(t, rows(`${HEADER},colour\n`), { code: 'invalid_csv', status: 422 });
  t.deepEqual(error?.errors, [{ path: 'header.11', message: 'unknown column "colour"' }]);
});

test('a column named twice refuses the file', async (t) => {
  const error = await fails(t, rows(`${HEADER},notes\n`), { code: 'invalid_csv' });
  t.regex(error?.errors[0]?.message ?? '', /appears twice/);
});

test('a missing required column refuses the file', async (t) => {
  const error = await fails(t, rows('barcode,sampleType,collectionDate\n'), { code: 'invalid_csv' });
  t.deepEqual(error?.errors, [{ path: 'header', message: 'the column "subjectId" is missing' }]);
});

test('an empty file refuses: a header row is required', async (t) => {
  await fails(t, rows(''), { code: 'invalid_csv', message: 'the file is empty: it needs a header row' });
});

test('bytes that are not UTF-8 refuse the file', async (t) => {
  await fails(t, rows(Buffer.from(`${HEADER}\nB1,blood,P001,2026-01-02,,,,,,caf\xe9\n`, 'latin1')), {
    code: 'invalid_csv',
    message: 'the file is not UTF-8 text',
  });
});

test('an unclosed quote refuses the file', async (t) => {
  await fails(t, rows(`${HEADER}\nB1,blood,P001,2026-01-02,,,,,,"open\n`), { code: 'invalid_csv' });
});

test('over the byte limit refuses with 413', async (t) => {
  const body = `${HEADER}\n${'B1,blood,P001,2026-01-02,,,,,,\n'.repeat(10)}`;
  await fails(t, rows(body, { maxBytes: 200, maxRows: 1000 }), { code: 'payload_too_large', status: 413 });
});

test('over the row limit refuses with 413', async (t) => {
  const body = `${HEADER}\n${'B1,blood,P001,2026-01-02,,,,,,\n'.repeat(4)}`;
  await fails(t, rows(body, { maxBytes: 1 << 20, maxRows: 3 }), { code: 'payload_too_large', status: 413 });
  t.is((await rows(body, { maxBytes: 1 << 20, maxRows: 4 })).length, 4);
});

test('a row with the wrong number of fields is a row error, and parsing goes on', async (t) => {
  const parsed = await rows(`${HEADER}\nB1,blood,P001\nB2,blood,P001,2026-01-02,,,,,,\n`);
  t.deepEqual(parsed[0]!.errors, [
    { row: 2, column: null, code: 'field_count', message: 'has 3 fields, the header 10' },
  ]);
  t.deepEqual(parsed[1]!.errors, []);
});

test('U+0000 and other control characters in a field are row errors naming the column', async (t) => {
  const parsed = await rows(`${HEADER}\nB1,blood,P001,2026-01-02,,,,,,a\u0000b\nB\u0007,blood,P001,2026-01-02,,,,,,\n`);
  t.like(parsed[0]!.errors[0], { row: 2, column: 'notes', code: 'invalid_text' });
  t.like(parsed[1]!.errors[0], { row: 3, column: 'barcode', code: 'invalid_text' });
});

test('blank lines are skipped, and counted in the row numbers as a spreadsheet shows them', async (t) => {
  const parsed = await rows(
    `${HEADER}\n\nB1,blood,P001,2026-01-02,,,,,,"two\nlines"\n\nB2,blood,P001,2026-01-02,,,,,,\n`,
  );
  t.deepEqual(
    parsed.map((r) => r.row),
    [3, 5],
  );
});

test('a file digest is the SHA-256 of its exact bytes, however they are chunked', async (t) => {
  const whole = await digestFile([Buffer.from('abc')]);
  t.deepEqual(whole, { sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', bytes: 3 });
  t.deepEqual(await digestFile([Buffer.from('a'), 'bc']), whole);
  t.not((await digestFile([Buffer.from('abc\n')])).sha256, whole.sha256);
});
