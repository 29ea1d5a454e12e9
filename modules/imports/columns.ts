// The import file's shape (API.md, Imports and bulk changes): its columns, its limits, the typed
// row a data line becomes, and the error a refused row carries. Export writes the same columns, so
// a file exported from one lab imports into another unchanged.

/** The columns, in the order an export writes them; an import takes them in any order. */
export const IMPORT_COLUMNS = [
  'barcode',
  'sampleType',
  'subjectId',
  'collectionDate',
  'status',
  'quantity',
  'unit',
  'box',
  'position',
  'notes',
] as const;
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/** The column errors.csv adds; an import passes over it, so a fixed errors.csv imports as it is. */
export const ERRORS_COLUMN = 'errors';

/** Columns a row must fill; the others may be left empty. */
export const REQUIRED_COLUMNS: ReadonlySet<ImportColumn> = new Set(['sampleType', 'subjectId', 'collectionDate']);

export const MAX_IMPORT_BYTES = 10 * 1024 * 1024;
export const MAX_IMPORT_ROWS = 100_000;
/** One field longer than any column allows is a broken file (an unclosed quote), not a row error. */
export const MAX_FIELD_CHARS = 64 * 1024;

export interface ImportLimits {
  readonly maxBytes: number;
  readonly maxRows: number;
}
export const importLimits: ImportLimits = { maxBytes: MAX_IMPORT_BYTES, maxRows: MAX_IMPORT_ROWS };

/** A data row as the file spells it: every column, as text ('' for an empty field). */
export type RawRow = Readonly<Record<ImportColumn, string>>;

/**
 * A data row, typed: empty optional fields are null, the quantity a number. Enumerated values
 * (sample type, status, unit) stay text here: which ones exist is the samples module's rule.
 */
export interface ImportRow {
  readonly barcode: string | null;
  readonly sampleType: string;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: string | null;
  readonly quantity: { readonly value: number; readonly unit: string } | null;
  readonly box: string | null;
  readonly position: string | null;
  readonly notes: string | null;
}

/**
 * Why a row is refused. `row` counts records as a spreadsheet numbers its lines: the header is
 * row 1, the first data row row 2 (a quoted field spanning lines is still one row; a skipped blank line
 * counts as one).
 */
export interface RowError {
  readonly row: number;
  /** The column at fault, or null for the row as a whole (e.g. a wrong number of fields). */
  readonly column: ImportColumn | null;
  readonly code: RowErrorCode;
  readonly message: string;
}

export const rowErrorCodes = [
  /** A required column is empty. */
  'required',
  /** A value breaks a rule of POST /samples (type, subject, date, status, quantity, barcode…). */
  'invalid_value',
  /** Text the API refuses everywhere (U+0000, other control characters). */
  'invalid_text',
  /** More or fewer fields than the header has columns. */
  'field_count',
  /** The same barcode earlier in the file (case-insensitive). */
  'duplicate_barcode',
  /** The barcode belongs to a sample of the lab already. */
  'barcode_taken',
  /** The same box position earlier in the file. */
  'duplicate_position',
  /** The position holds a sample already. */
  'position_occupied',
  /** No box of the lab by that id or path. */
  'unknown_box',
  /** Not a position of that box (outside its grid). */
  'invalid_position',
  /** Refused when the sample was created (e.g. a barcode taken in the meantime). */
  'refused',
] as const;
export type RowErrorCode = (typeof rowErrorCodes)[number];

/** A row with everything that is wrong with it, for errors.csv. */
export interface RefusedRow {
  readonly row: number;
  readonly raw: RawRow;
  readonly errors: readonly RowError[];
}
