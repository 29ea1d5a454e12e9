// CSV out, through csv-stringify, as pure transforms over async iterables (a route pipes them to
// the response, so neither file is ever whole in memory):
//   - the export: samples as import rows, in the import's columns, so the file imports back as it is;
//   - errors.csv: every refused row with its original fields and an `errors` column, to fix in a
//     spreadsheet and import again (the import passes over that column).
import { Readable, pipeline } from 'node:stream';
import { stringify } from 'csv-stringify';
import { printable } from '../../platform/text.ts';
import { ERRORS_COLUMN, IMPORT_COLUMNS, type ImportRow, type RefusedRow, type RowError } from './columns.ts';

/** The fields of a typed row as the file spells them (null is an empty field). */
export function rowFields(row: ImportRow): string[] {
  return [
    row.barcode ?? '',
    row.sampleType,
    row.subjectId,
    row.collectionDate,
    row.status ?? '',
    // String() gives the shortest text that reads back as the same number.
    row.quantity === null ? '' : String(row.quantity.value),
    row.quantity?.unit ?? '',
    row.box ?? '',
    row.position ?? '',
    row.notes ?? '',
  ];
}

/** The errors of a row in one field: `column: message (code)`, separated by semicolons. */
export function errorsField(errors: readonly RowError[]): string {
  return errors.map((e) => `${e.column ?? 'row'}: ${e.message} (${e.code})`).join('; ');
}

async function* records<T>(header: readonly string[], rows: AsyncIterable<T>, fields: (row: T) => string[]) {
  yield [...header];
  for await (const row of rows) yield fields(row);
}

/** Records out as CSV text chunks; RFC 4180 quoting, CRLF line ends (what spreadsheets expect). */
function csvText(source: AsyncIterable<string[]>): AsyncIterable<string> {
  const stringifier = stringify({ record_delimiter: 'windows', quoted_string: false });
  // pipeline: a failing source destroys the stringifier with its error, so a reader sees it.
  return pipeline(Readable.from(source), stringifier, () => {}).setEncoding('utf8') as AsyncIterable<string>;
}

/** The export: a header, then one line per sample, in IMPORT_COLUMNS order. */
export function exportCsv(rows: AsyncIterable<ImportRow>): AsyncIterable<string> {
  return csvText(records(IMPORT_COLUMNS, rows, rowFields));
}

/**
 * errors.csv: the refused rows, each with its original fields and its errors. Text the import
 * refused (control characters) is shown as \uXXXX, so the file itself is clean to open.
 */
export function errorsCsv(rows: AsyncIterable<RefusedRow>): AsyncIterable<string> {
  const fields = (r: RefusedRow) => [...IMPORT_COLUMNS.map((c) => printable(r.raw[c])), errorsField(r.errors)];
  return csvText(records([...IMPORT_COLUMNS, ERRORS_COLUMN], rows, fields));
}
