// The sample rules of API.md (Samples, Physical samples) over an import row: a stand-in with the
// contract's values until app/ injects the samples module's own rules (modules do not import each
// other). Tissue-in-a-freezer needs the storage tree, so it is the injected rules' part.
import type { ImportRow } from './columns.ts';
import type { RowRules, RuleBreach } from './rules.ts';

export const CONTRACT_SAMPLE_TYPES = ['blood', 'saliva', 'tissue', 'plasma', 'serum', 'buffy_coat', 'dna', 'rna'];
/** What a new sample may start as: the final statuses need a reason and an amount gone. */
export const CONTRACT_IMPORT_STATUSES = ['collected', 'processing', 'archived'];
export const CONTRACT_UNITS = ['mL', 'uL', 'g', 'mg', 'ug', 'cells'];
const BARCODE = /^[A-Za-z0-9._-]{1,64}$/;
const SUBJECT_ID = /^[A-Z][0-9]{3,}$/;
const POSITION = /^[A-Za-z][0-9]{1,2}$/;
const MAX_NOTES = 2000;
const MAX_BOX = 300;

const utcDay = (at: Date) => at.toISOString().slice(0, 10);

function isRealDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && utcDay(parsed) === value;
}

function dateBreach(value: string, now: Date, maxAgeYears: number): string | undefined {
  if (!isRealDate(value)) return 'must be a date YYYY-MM-DD';
  const year = Number(value.slice(0, 4));
  if (year < 1900) return 'must lie between the years 1900 and 9999';
  const today = utcDay(now);
  if (value > today) return 'must not be in the future';
  if (maxAgeYears > 0) {
    const oldest = new Date(now);
    oldest.setUTCFullYear(oldest.getUTCFullYear() - maxAgeYears);
    if (value < utcDay(oldest)) return `must not be older than ${maxAgeYears} years`;
  }
  return undefined;
}

function fieldBreaches(row: ImportRow): RuleBreach[] {
  const out: RuleBreach[] = [];
  const oneOf = (list: readonly string[]) => `must be one of ${list.join(', ')}`;
  if (row.barcode !== null && !BARCODE.test(row.barcode)) {
    out.push({ column: 'barcode', message: 'must be 1–64 of A–Z, a–z, 0–9, dot, underscore and hyphen' });
  }
  if (!CONTRACT_SAMPLE_TYPES.includes(row.sampleType)) {
    out.push({ column: 'sampleType', message: oneOf(CONTRACT_SAMPLE_TYPES) });
  }
  if (!SUBJECT_ID.test(row.subjectId)) {
    out.push({ column: 'subjectId', message: 'must be one capital letter and at least 3 digits, e.g. P001' });
  }
  if (row.status !== null && !CONTRACT_IMPORT_STATUSES.includes(row.status)) {
    out.push({ column: 'status', message: oneOf(CONTRACT_IMPORT_STATUSES) });
  }
  if (row.quantity !== null && !(row.quantity.value > 0 && Number.isFinite(row.quantity.value))) {
    out.push({ column: 'quantity', message: 'must be greater than 0' });
  }
  if (row.quantity !== null && !CONTRACT_UNITS.includes(row.quantity.unit)) {
    out.push({ column: 'unit', message: oneOf(CONTRACT_UNITS) });
  }
  if (row.box !== null && row.box.length > MAX_BOX) out.push({ column: 'box', message: 'is too long' });
  if (row.position !== null && !POSITION.test(row.position)) {
    out.push({ column: 'position', message: 'must be a row letter and a column number, e.g. A1' });
  }
  if (row.notes !== null && row.notes.length > MAX_NOTES) {
    out.push({ column: 'notes', message: `must be at most ${MAX_NOTES} characters long` });
  }
  return out;
}

/** The contract's rules on `now()`'s day; `maxAgeYears` 0 takes any past date (SAMPLES_MAX_AGE_YEARS). */
export function contractRowRules(now: () => Date = () => new Date(), maxAgeYears = 10): RowRules {
  return {
    check(row) {
      const breaches = fieldBreaches(row);
      const date = dateBreach(row.collectionDate, now(), maxAgeYears);
      if (date) breaches.push({ column: 'collectionDate', message: date });
      return breaches;
    },
  };
}
