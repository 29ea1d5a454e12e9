// Drives one import job through its states, with everything it touches injected (app/ wires the
// event store, the stored file, the lab's lookups and sample creation):
//   validating → the validation pass over the whole file, nothing written;
//   validated  → a dry run ends; otherwise the import starts;
//   importing  → the file again in batches (one store call each), each valid row a sample whose id is a
//                function of (import id, row) and whose events carry the import id as correlation
//                id; progress after every batch; a cancel request honoured between batches.
// Started again on the same job (after a crash or a restart) it carries on where the job stands:
// created samples are counted, not remembered, and a row created before the crash is found by its
// id and not created twice. With the file gone the job ends failed with that exact count.
import { createHash } from 'node:crypto';
import { DomainError } from '../../platform/commands/decision.ts';
import type { ImportRow, RefusedRow } from './columns.ts';
import { isFinal, type ImportCommand, type ImportJob, type ImportState } from './decide.ts';
import type { ImportFailureCode } from './events.ts';
import { parseImport, type ByteSource } from './parse.ts';
import type { CheckedRow, LabLookups, RuleBreach } from './rules.ts';
import { validateImport, ValidationTally, type ValidateDeps } from './validate.ts';

/** A valid row about to become a sample. */
export interface PlannedSample {
  readonly sampleId: string;
  readonly row: number;
  readonly value: ImportRow;
}

/** What creating one sample came to: created now, there already (same id), or refused. */
export type CreateOutcome =
  | { readonly ok: true; readonly created: boolean }
  | { readonly ok: false; readonly breach: RuleBreach | { readonly column: null; readonly message: string } };

export interface ImportPorts {
  /** The job as its stream has it. */
  load(importId: string): Promise<ImportState>;
  /** One command through the command pipeline; the state after it. A refusal throws a DomainError. */
  execute(importId: string, command: ImportCommand): Promise<ImportState>;
  /** The job's file from its first byte, or undefined when it is no longer kept. */
  file(job: ImportJob): ByteSource | undefined;
  readonly validation: ValidateDeps;
  /**
   * Creates a batch's samples, one outcome per sample in order (POST /samples' decider; the lab's
   * own checks of barcode and place are the final word). A sample with its id existing already
   * answers `{ ok: true, created: false }`.
   */
  createSamples(samples: readonly PlannedSample[], correlationId: string): Promise<CreateOutcome[]>;
  /** How many samples carry this import id as correlation id. */
  countCreated(importId: string): Promise<number>;
  /** Keeps refused rows for errors.csv; a row kept twice (a resumed pass) replaces itself. */
  recordRefused(importId: string, rows: readonly RefusedRow[]): Promise<void>;
  /**
   * The numbers of the rows the validation pass refused (not those refused at creation, code
   * `refused`): the import pass does not try them.
   */
  refusedRows(importId: string): Promise<ReadonlySet<number>>;
  readonly now?: () => Date;
  readonly batchSize?: number;
}

export const IMPORT_BATCH = 500;

/** The id of the sample a row becomes: the same on every run, so a resumed import finds it. */
export function plannedSampleId(importId: string, row: number): string {
  const h = createHash('sha256').update(`vialog-import:${importId}:${row}`).digest('hex');
  // RFC 9562 version 8 (custom) with the RFC variant bits.
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const asJob = (state: ImportState): ImportJob => {
  if (state.kind === 'none') throw new DomainError({ code: 'not_found', message: 'import not found' });
  return state;
};

const refusedOf = (c: CheckedRow): RefusedRow => ({ row: c.row, raw: c.raw, errors: c.errors });

/** Runs the job until it ends, or until it waits on nothing more (a dry run validated). */
export async function runImport(importId: string, ports: ImportPorts): Promise<ImportJob> {
  const now = ports.now ?? (() => new Date());
  let job = asJob(await ports.load(importId));
  if (job.status === 'validating') job = await validatePass(job, ports, now);
  if (isFinal(job)) return job;
  if (job.status === 'validated')
    job = asJob(await ports.execute(importId, { type: 'StartImport', data: { now: now() } }));
  else
    job = asJob(
      await ports.execute(importId, {
        type: 'ResumeImport',
        data: { created: await ports.countCreated(importId), now: now() },
      }),
    );
  return importPass(job, ports, now);
}

async function fail(job: ImportJob, ports: ImportPorts, code: ImportFailureCode, message: string, now: () => Date) {
  const created = await ports.countCreated(job.importId);
  return asJob(await ports.execute(job.importId, { type: 'FailImport', data: { code, message, created, now: now() } }));
}

async function validatePass(job: ImportJob, ports: ImportPorts, now: () => Date): Promise<ImportJob> {
  const file = ports.file(job);
  if (!file) return fail(job, ports, 'file_unreadable', 'the import file is no longer kept', now);
  const tally = new ValidationTally();
  let refused: RefusedRow[] = [];
  try {
    for await (const checked of validateImport(parseImport(file), ports.validation)) {
      tally.add(checked);
      if (checked.errors.length > 0) refused.push(refusedOf(checked));
      if (refused.length >= IMPORT_BATCH) {
        await ports.recordRefused(job.importId, refused);
        refused = [];
      }
    }
  } catch (error) {
    if (error instanceof DomainError) return fail(job, ports, 'file_unreadable', error.message, now);
    throw error;
  }
  if (refused.length > 0) await ports.recordRefused(job.importId, refused);
  const command: ImportCommand = { type: 'RecordValidation', data: { summary: tally.summary(), now: now() } };
  return asJob(await ports.execute(job.importId, command));
}

/**
 * The lab lookups of the import pass: the validation pass asked the lab already, and rows this
 * import created since would now look taken. Sample creation checks the lab itself.
 */
const offline: LabLookups = {
  knownBarcodes: () => Promise.resolve(new Set()),
  positionFree: (places) => Promise.resolve(places.map((p) => ({ state: 'free' as const, unitId: p.box }))),
};

interface Counts {
  processed: number;
  lastRow: number;
  created: number;
  refused: number;
}

async function importPass(start: ImportJob, ports: ImportPorts, now: () => Date): Promise<ImportJob> {
  let job = start;
  if (job.cancelRequested) return settle(job, ports, now);
  const file = ports.file(job);
  if (!file) return fail(job, ports, 'interrupted', 'the import file is no longer kept', now);
  const counts: Counts = { processed: job.processed, created: job.created, refused: job.refused, lastRow: job.lastRow };
  const rows = validateImport(parseImport(file), { ...ports.validation, lookups: offline });
  // Refused at validation, by the lab's answers too (which the import pass does not ask again).
  const refusedBefore = await ports.refusedRows(job.importId);
  let batch: CheckedRow[] = [];
  for await (const checked of rows) {
    if (checked.errors.length > 0 || refusedBefore.has(checked.row)) continue;
    // Rows up to the last recorded progress were dealt with before a restart.
    if (checked.row <= start.lastRow) continue;
    batch.push(checked);
    if (batch.length < (ports.batchSize ?? IMPORT_BATCH)) continue;
    const next = await importBatch(job, batch, counts, ports, now);
    batch = [];
    if (next.status !== 'importing' || next.cancelRequested) return settle(next, ports, now);
    job = next;
  }
  if (batch.length > 0) job = await importBatch(job, batch, counts, ports, now);
  if (job.status !== 'importing' || job.cancelRequested) return settle(job, ports, now);
  const created = await ports.countCreated(job.importId);
  const command: ImportCommand = { type: 'CompleteImport', data: { ...counts, created, now: now() } };
  return asJob(await ports.execute(job.importId, command));
}

/** A job stopped between batches: a cancel request becomes the cancellation, with the exact count. */
async function settle(job: ImportJob, ports: ImportPorts, now: () => Date): Promise<ImportJob> {
  if (job.status !== 'importing') return job;
  const created = await ports.countCreated(job.importId);
  return asJob(await ports.execute(job.importId, { type: 'ConfirmCancel', data: { created, now: now() } }));
}

async function importBatch(
  job: ImportJob,
  batch: readonly CheckedRow[],
  counts: Counts,
  ports: ImportPorts,
  now: () => Date,
) {
  const refused: RefusedRow[] = [];
  const planned = batch.map((c) => ({ sampleId: plannedSampleId(job.importId, c.row), row: c.row, value: c.value! }));
  const outcomes = await ports.createSamples(planned, job.importId);
  let firstRefused: number | undefined;
  batch.forEach((checked, i) => {
    const outcome = outcomes[i]!;
    counts.processed++;
    counts.lastRow = checked.row;
    if (outcome.ok) {
      if (outcome.created) counts.created++;
      return;
    }
    const { column, message } = outcome.breach;
    refused.push({
      row: checked.row,
      raw: checked.raw,
      errors: [{ row: checked.row, column, code: 'refused', message }],
    });
    counts.refused++;
    firstRefused ??= checked.row;
  });
  if (job.mode === 'atomic' && firstRefused !== undefined) {
    await ports.recordRefused(job.importId, refused);
    return fail(job, ports, 'row_refused', `row ${firstRefused} was refused when its sample was created`, now);
  }
  if (refused.length > 0) await ports.recordRefused(job.importId, refused);
  return asJob(await ports.execute(job.importId, { type: 'RecordProgress', data: { ...counts, now: now() } }));
}
