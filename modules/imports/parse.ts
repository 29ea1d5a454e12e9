// Streaming parse of an import file with csv-parse: bytes in, one checked row at a time out, so a
// 10 MiB file never sits in memory as rows. UTF-8 only (a byte-order mark is dropped), RFC 4180
// quoting (commas, quotes and newlines inside quoted fields), a header row naming the columns.
// What breaks the whole file (not UTF-8, an unclosed quote, a bad header, over a limit) throws a
// DomainError; what breaks one row becomes that row's errors, and parsing goes on.
import { Readable, pipeline } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { DomainError, type FieldError } from '../../platform/commands/decision.ts';
import { textProblem } from '../../platform/text.ts';
import {
  ERRORS_COLUMN,
  IMPORT_COLUMNS,
  importLimits,
  MAX_FIELD_CHARS,
  REQUIRED_COLUMNS,
  type ImportColumn,
  type ImportLimits,
  type RawRow,
  type RowError,
} from './columns.ts';

/** The file's bytes: a request body, a file stream, or chunks in memory. */
export type ByteSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** A data row as read, with what is wrong with it as text (field count, refused characters). */
export interface ParsedRow {
  readonly row: number;
  readonly raw: RawRow;
  readonly errors: readonly RowError[];
}

interface Info {
  readonly record: string[];
  readonly info: { readonly records: number; readonly empty_lines: number };
}

const invalidCsv = (message: string, errors: readonly FieldError[] = []) =>
  new DomainError({ code: 'invalid_csv', message, errors, status: 422 });

const tooLarge = (message: string) => new DomainError({ code: 'payload_too_large', message, status: 413 });

/** The file's bytes as text: strict UTF-8 (a malformed byte is refused, never replaced), at most maxBytes. */
async function* utf8Text(input: ByteSource, maxBytes: number): AsyncGenerator<string> {
  // fatal: invalid bytes throw; ignoreBOM false: a leading byte-order mark is dropped.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  try {
    for await (const chunk of input) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      bytes += buffer.byteLength;
      if (bytes > maxBytes) throw tooLarge(`an import file holds at most ${maxBytes} bytes`);
      const text = decoder.decode(buffer, { stream: true });
      if (text !== '') yield text;
    }
    const rest = decoder.decode();
    if (rest !== '') yield rest;
  } catch (error) {
    if (error instanceof TypeError) throw invalidCsv('the file is not UTF-8 text');
    throw error;
  }
}

/**
 * The header's columns by field index (null for the errors column of errors.csv, which is read
 * past so a fixed errors.csv imports as it is); every problem with it at once.
 */
export function readHeader(fields: readonly string[]): readonly (ImportColumn | null)[] {
  const known = new Set<string>([...IMPORT_COLUMNS, ERRORS_COLUMN]);
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  for (const [i, name] of fields.entries()) {
    const shown = JSON.stringify(name);
    if (!known.has(name)) errors.push({ path: `header.${i + 1}`, message: `unknown column ${shown}` });
    else if (seen.has(name)) errors.push({ path: `header.${i + 1}`, message: `column ${shown} appears twice` });
    seen.add(name);
  }
  for (const column of REQUIRED_COLUMNS) {
    if (!seen.has(column)) errors.push({ path: 'header', message: `the column "${column}" is missing` });
  }
  if (errors.length > 0) {
    throw invalidCsv(`the header row must name the columns ${IMPORT_COLUMNS.join(', ')}`, errors);
  }
  return fields.map((name) => (name === ERRORS_COLUMN ? null : (name as ImportColumn)));
}

function rowOf(row: number, header: readonly (ImportColumn | null)[], fields: readonly string[]): ParsedRow {
  const raw = Object.fromEntries(IMPORT_COLUMNS.map((c) => [c, ''])) as Record<ImportColumn, string>;
  const errors: RowError[] = [];
  if (fields.length !== header.length) {
    const message = `has ${fields.length} fields, the header ${header.length}`;
    errors.push({ row, column: null, code: 'field_count', message });
  }
  for (let i = 0; i < header.length && i < fields.length; i++) {
    const column = header[i];
    const value = fields[i]!;
    if (!column) continue;
    raw[column] = value;
    const problem = textProblem(value);
    if (problem) errors.push({ row, column, code: 'invalid_text', message: problem });
  }
  return { row, raw, errors };
}

function csvProblem(error: unknown): unknown {
  if (!(error instanceof CsvError)) return error;
  const where = typeof error.lines === 'number' ? ` (near line ${error.lines})` : '';
  const message =
    error.code === 'CSV_QUOTE_NOT_CLOSED'
      ? 'a quoted field is never closed'
      : error.code === 'CSV_MAX_RECORD_SIZE'
        ? `a field is longer than ${MAX_FIELD_CHARS} characters (an unclosed quote?)`
        : 'the file is not valid CSV';
  return invalidCsv(`${message}${where}`);
}

/**
 * The file's data rows, in order, each with its text errors. Throws a DomainError for a file that
 * cannot be read as a whole: invalid_csv (422) or payload_too_large (413, over the byte or row limit).
 */
export async function* parseImport(input: ByteSource, limits: ImportLimits = importLimits): AsyncGenerator<ParsedRow> {
  const parser = parse({
    skip_empty_lines: true,
    relax_column_count: true,
    max_record_size: MAX_FIELD_CHARS,
    info: true,
  });
  // pipeline: an error on either side destroys both, so the loop below sees it and stops.
  const records = pipeline(Readable.from(utf8Text(input, limits.maxBytes)), parser, () => {});
  let header: readonly (ImportColumn | null)[] | undefined;
  let dataRows = 0;
  try {
    for await (const { record, info } of records as AsyncIterable<Info>) {
      if (header === undefined) {
        header = readHeader(record);
        continue;
      }
      if (++dataRows > limits.maxRows) throw tooLarge(`an import file holds at most ${limits.maxRows} rows`);
      // A spreadsheet shows a blank line as an empty row: counting them keeps the numbers its own.
      yield rowOf(info.records + info.empty_lines, header, record);
    }
  } catch (error) {
    throw csvProblem(error);
  } finally {
    records.destroy();
  }
  if (header === undefined) throw invalidCsv('the file is empty: it needs a header row');
}
