// The rules of a sample record (API.md, Samples). Each check returns every broken rule as
// { path, message } so a client can show them all at once (422 validation_failed).
import type { FieldError } from '../../platform/commands/decision.ts';
import { sampleTypes, type SampleStatus, type SampleType } from './events.ts';
import { checkCollectionAge, checkPhysicalStatusMove, physicalStatusMoves } from './physical/status.ts';

export type { FieldError };

export const SUBJECT_ID_PATTERN = /^[A-Z][0-9]{3,}$/;
export const STORAGE_PATTERN = /^(?:freezer-[0-9]+-row[A-Z]|shelf-[0-9]+)$/;
export const FREEZER_PATTERN = /^freezer-[0-9]+-row[A-Z]$/;
export const MAX_COLLECTION_AGE_YEARS = 10;
export const MAX_NOTES_LENGTH = 2000;

/**
 * Allowed status moves; archived → processing is a re-analysis and needs a reason, as does
 * disposal. `consumed` and `disposed` are final (physical/status.ts).
 */
export const statusMoves: Readonly<Record<SampleStatus, readonly SampleStatus[]>> = physicalStatusMoves;

export interface SampleFields {
  readonly sampleType: SampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly storageLocation: string | null;
  readonly notes: string | null;
}

/** UTC calendar date of an instant, YYYY-MM-DD. */
export const utcDate = (at: Date): string => at.toISOString().slice(0, 10);

function isRealDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && utcDate(parsed) === value;
}

/** The oldest collection date accepted on `today` (10 years back, same calendar day). */
export function oldestCollectionDate(today: string): string {
  const [y, m, d] = today.split('-').map(Number) as [number, number, number];
  const oldest = new Date(Date.UTC(y - MAX_COLLECTION_AGE_YEARS, m - 1, d));
  return utcDate(oldest);
}

export function validateSampleFields(
  fields: SampleFields,
  now: Date,
  maxAgeYears: number = MAX_COLLECTION_AGE_YEARS,
): FieldError[] {
  const errors: FieldError[] = [];
  if (!SUBJECT_ID_PATTERN.test(fields.subjectId)) {
    errors.push({ path: 'subjectId', message: 'must be one capital letter and at least 3 digits, e.g. P001' });
  }
  if (!isRealDate(fields.collectionDate)) {
    errors.push({ path: 'collectionDate', message: 'must be a date YYYY-MM-DD' });
  } else {
    const age = checkCollectionAge(fields.collectionDate, utcDate(now), maxAgeYears);
    if (age) errors.push(age);
  }
  if (fields.storageLocation !== null && !STORAGE_PATTERN.test(fields.storageLocation)) {
    errors.push({ path: 'storageLocation', message: 'must be freezer-<n>-row<X> (e.g. freezer-3-rowB) or shelf-<n>' });
  }
  if (
    fields.sampleType === 'tissue' &&
    (fields.storageLocation === null || !FREEZER_PATTERN.test(fields.storageLocation))
  ) {
    errors.push({ path: 'storageLocation', message: 'tissue must be stored in a freezer (freezer-<n>-row<X>)' });
  }
  if (fields.notes !== null && fields.notes.length > MAX_NOTES_LENGTH) {
    errors.push({ path: 'notes', message: `must be at most ${MAX_NOTES_LENGTH} characters long` });
  }
  return errors;
}

/**
 * The field rules over a body that failed its schema elsewhere: every field that has the right
 * type is still checked (stand-ins fill the others, and their errors are dropped), so a client
 * sees all that is wrong in one answer.
 */
export function ruleErrorsOfWellTypedFields(raw: unknown, now: Date): FieldError[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const body = raw as Record<string, unknown>;
  const text = (key: string): string | undefined => (typeof body[key] === 'string' ? body[key] : undefined);
  const sampleType = (sampleTypes as readonly unknown[]).includes(body.sampleType)
    ? (body.sampleType as SampleType)
    : undefined;
  const checked = new Set(
    ['subjectId', 'collectionDate', 'storageLocation', 'notes'].filter((key) => text(key) !== undefined),
  );
  // Tissue without a freezer is wrong whether the location is missing or elsewhere.
  if (sampleType === 'tissue' && (body.storageLocation === undefined || body.storageLocation === null))
    checked.add('storageLocation');
  const fields: SampleFields = {
    sampleType: sampleType ?? 'blood',
    subjectId: text('subjectId') ?? 'P000',
    collectionDate: text('collectionDate') ?? utcDate(now),
    storageLocation: text('storageLocation') ?? null,
    notes: text('notes') ?? null,
  };
  return validateSampleFields(fields, now).filter((error) => checked.has(error.path));
}

export type TransitionCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

export function checkStatusMove(from: SampleStatus, to: SampleStatus, reason: string | null): TransitionCheck {
  const check = checkPhysicalStatusMove(from, to, reason);
  if (!check.ok && from === 'archived' && to === 'processing') {
    return { ok: false, message: 'moving from archived to processing (re-analysis) needs a reason' };
  }
  return check;
}
