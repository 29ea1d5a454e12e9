// How a row is judged. Three layers, all pure but the two lookups:
//   1. typing: required columns filled, quantity a number with a unit, box and position together;
//   2. the sample rules, through `RowRules` — app/ plugs in the very rules of POST /samples, so an
//      import never accepts what the API would refuse (`contractRowRules` stands in until then);
//   3. the file rules: a barcode once per file (case-insensitive) and not yet in the lab, a box
//      position once per file and free in the lab, asked of the lab in batches.
import type { ImportColumn, ImportRow, RawRow, RowError } from './columns.ts';
import { REQUIRED_COLUMNS } from './columns.ts';
import type { ParsedRow } from './parse.ts';

/** A broken sample rule: the column it is about and why. */
export interface RuleBreach {
  readonly column: ImportColumn;
  readonly message: string;
}

/** The rules of POST /samples, over one typed row: every breach, by column. */
export interface RowRules {
  check(row: ImportRow): readonly RuleBreach[];
}

/** Where a row wants its sample, as the lab answers: the box resolved to its unit id. */
export type PlaceAnswer =
  | { readonly state: 'free'; readonly unitId: string }
  | { readonly state: 'occupied'; readonly unitId: string }
  | { readonly state: 'unknown_box' }
  | { readonly state: 'invalid_position' };

export interface Place {
  readonly box: string;
  readonly position: string;
}

/** What the file rules ask of the lab, a batch of rows at a time. */
export interface LabLookups {
  /** Which of these barcodes (lower case) samples of the lab carry already, lower case. */
  knownBarcodes(barcodes: readonly string[]): Promise<ReadonlySet<string>>;
  /** For each place, in order: whether it is free, by the box's unit id or path. */
  positionFree(places: readonly Place[]): Promise<readonly PlaceAnswer[]>;
}

/** A judged row: its typed value when nothing is wrong with it, else its errors. */
export interface CheckedRow {
  readonly row: number;
  readonly raw: RawRow;
  readonly value: ImportRow | null;
  readonly errors: readonly RowError[];
  /** The resolved place, when the row names one that exists. */
  readonly unitId: string | null;
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const orNull = (value: string) => (value === '' ? null : value);

function typedQuantity(parsed: ParsedRow, errors: RowError[]): ImportRow['quantity'] {
  const { quantity, unit } = parsed.raw;
  const row = parsed.row;
  if (quantity === '' && unit === '') return null;
  if (quantity === '') {
    errors.push({ row, column: 'quantity', code: 'required', message: 'a unit needs a quantity' });
    return null;
  }
  if (!DECIMAL.test(quantity)) {
    errors.push({ row, column: 'quantity', code: 'invalid_value', message: 'must be a decimal number, e.g. 1.5' });
    return null;
  }
  if (unit === '') {
    errors.push({ row, column: 'unit', code: 'required', message: 'a quantity needs a unit' });
    return null;
  }
  return { value: Number(quantity), unit };
}

/**
 * Layers 1 and 2 for one row: its typed value and every error (text errors from the parse
 * included). A required column left empty is reported once, as `required`.
 */
export function typeRow(parsed: ParsedRow, rules: RowRules): { value: ImportRow; errors: RowError[] } {
  const { raw, row } = parsed;
  const errors: RowError[] = [...parsed.errors];
  const missing = new Set<ImportColumn>();
  for (const column of REQUIRED_COLUMNS) {
    if (raw[column] === '') {
      missing.add(column);
      errors.push({ row, column, code: 'required', message: 'must not be empty' });
    }
  }
  const quantity = typedQuantity(parsed, errors);
  if ((raw.box === '') !== (raw.position === '')) {
    const column = raw.box === '' ? 'box' : 'position';
    errors.push({ row, column, code: 'required', message: 'a box and a position go together' });
  }
  const value: ImportRow = {
    barcode: orNull(raw.barcode),
    sampleType: raw.sampleType,
    subjectId: raw.subjectId,
    collectionDate: raw.collectionDate,
    status: orNull(raw.status),
    quantity,
    box: orNull(raw.box),
    position: orNull(raw.position),
    notes: orNull(raw.notes),
  };
  const textErrors = new Set(parsed.errors.map((e) => e.column));
  for (const breach of rules.check(value)) {
    if (missing.has(breach.column) || textErrors.has(breach.column)) continue;
    errors.push({ row, column: breach.column, code: 'invalid_value', message: breach.message });
  }
  return { value, errors };
}
