// The validation pass: parsed rows in, judged rows out, in file order, a batch at a time (the lab
// is asked about a batch's barcodes and places in two calls, not one per row). Nothing is written:
// a dry run is this pass alone, and a real import runs it in full before it creates anything.
import type { RowError } from './columns.ts';
import type { ParsedRow } from './parse.ts';
import { typeRow, type CheckedRow, type LabLookups, type Place, type PlaceAnswer, type RowRules } from './rules.ts';

export const VALIDATION_BATCH = 500;
/** How many errors the import's status (and its events) carry; errors.csv has them all. */
export const MAX_REPORTED_ERRORS = 100;

export interface ValidateDeps {
  readonly rules: RowRules;
  readonly lookups: LabLookups;
  readonly batchSize?: number;
}

type Typed = { parsed: ParsedRow } & ReturnType<typeof typeRow>;

/** The file-wide memory of claims: the first row that named each barcode and each place. */
class Claims {
  readonly #barcodes = new Map<string, number>();
  readonly #places = new Map<string, number>();

  barcode(row: number, lower: string, known: ReadonlySet<string>, errors: RowError[]): void {
    const first = this.#barcodes.get(lower);
    if (first !== undefined) {
      errors.push({ row, column: 'barcode', code: 'duplicate_barcode', message: `row ${first} has this barcode` });
      return;
    }
    this.#barcodes.set(lower, row);
    if (known.has(lower)) {
      errors.push({ row, column: 'barcode', code: 'barcode_taken', message: 'a sample of the lab has this barcode' });
    }
  }

  place(row: number, position: string, answer: PlaceAnswer, errors: RowError[]): string | null {
    if (answer.state === 'unknown_box') {
      errors.push({ row, column: 'box', code: 'unknown_box', message: 'no box of the lab has this id or path' });
      return null;
    }
    if (answer.state === 'invalid_position') {
      errors.push({ row, column: 'position', code: 'invalid_position', message: 'not a position of this box' });
      return null;
    }
    const key = `${answer.unitId}/${position.toUpperCase()}`;
    const first = this.#places.get(key);
    if (first !== undefined) {
      errors.push({ row, column: 'position', code: 'duplicate_position', message: `row ${first} claims it` });
    } else {
      this.#places.set(key, row);
      if (answer.state === 'occupied') {
        errors.push({ row, column: 'position', code: 'position_occupied', message: 'a sample is there already' });
      }
    }
    return answer.unitId;
  }
}

const hasError = (errors: readonly RowError[], column: string) => errors.some((e) => e.column === column);

/** The place a row claims, unless its box or position is wrong already. */
const claimedPlace = (value: Typed['value'], errors: readonly RowError[]): Place | undefined =>
  value.box !== null && value.position !== null && !hasError(errors, 'box') && !hasError(errors, 'position')
    ? { box: value.box, position: value.position }
    : undefined;

async function judgeBatch(batch: readonly Typed[], lookups: LabLookups, claims: Claims): Promise<CheckedRow[]> {
  const barcodes = new Set<string>();
  const places: Place[] = [];
  for (const { value, errors } of batch) {
    if (value.barcode !== null && !hasError(errors, 'barcode')) barcodes.add(value.barcode.toLowerCase());
    const place = claimedPlace(value, errors);
    if (place) places.push(place);
  }
  const known = barcodes.size > 0 ? await lookups.knownBarcodes([...barcodes]) : new Set<string>();
  const answers = places.length > 0 ? await lookups.positionFree(places) : [];
  let next = 0;
  return batch.map(({ parsed, value, errors }) => {
    const row = parsed.row;
    if (value.barcode !== null && !hasError(errors, 'barcode')) {
      claims.barcode(row, value.barcode.toLowerCase(), known, errors);
    }
    let unitId: string | null = null;
    const place = claimedPlace(value, errors);
    if (place) {
      const answer = answers[next++] ?? { state: 'unknown_box' };
      unitId = claims.place(row, place.position, answer, errors);
    }
    return { row, raw: parsed.raw, value: errors.length === 0 ? value : null, errors, unitId };
  });
}

/** Every row of the file, judged by all three layers of rules, in file order. */
export async function* validateImport(
  parsed: AsyncIterable<ParsedRow>,
  deps: ValidateDeps,
): AsyncGenerator<CheckedRow> {
  const size = deps.batchSize ?? VALIDATION_BATCH;
  const claims = new Claims();
  let batch: Typed[] = [];
  for await (const row of parsed) {
    batch.push({ parsed: row, ...typeRow(row, deps.rules) });
    if (batch.length >= size) {
      yield* await judgeBatch(batch, deps.lookups, claims);
      batch = [];
    }
  }
  if (batch.length > 0) yield* await judgeBatch(batch, deps.lookups, claims);
}

export interface ValidationSummary {
  readonly rows: number;
  readonly validRows: number;
  readonly invalidRows: number;
  /** The first MAX_REPORTED_ERRORS errors, in file order. */
  readonly errors: readonly RowError[];
}

/** Counts judged rows as they pass, keeping only the first errors (memory stays flat). */
export class ValidationTally {
  #rows = 0;
  #valid = 0;
  readonly #errors: RowError[] = [];

  add(checked: CheckedRow): void {
    this.#rows++;
    if (checked.errors.length === 0) this.#valid++;
    for (const error of checked.errors) {
      if (this.#errors.length >= MAX_REPORTED_ERRORS) break;
      this.#errors.push(error);
    }
  }

  summary(): ValidationSummary {
    return {
      rows: this.#rows,
      validRows: this.#valid,
      invalidRows: this.#rows - this.#valid,
      errors: [...this.#errors],
    };
  }
}
