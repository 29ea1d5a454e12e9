// Pure decider of an import job: (command, state) -> Decision. Times and counts come in with the
// commands; the lookups (earlier imports of the same file, samples created) are done before.
//
//   validating → validated (a dry run ends here) → importing → completed
//        └──────────┴─────────────────────────────────┴──→ failed | cancelled
//
// An atomic import with a refused row fails at validation, having created nothing. A user's
// cancel of a running import is a request: the runner stops between batches and records the
// cancellation with the exact count created, so `created` is never a guess.
import { accept, refuse, type Decision } from '../../platform/commands/decision.ts';
import type { Decider } from '../../platform/commands/handler.ts';
import type { RowError } from './columns.ts';
import type { ImportEvent, ImportFailureCode, ImportMode, ImportStatus } from './events.ts';
import { finalImportStatuses } from './events.ts';
import type { ValidationSummary } from './validate.ts';

export interface ImportJob {
  readonly kind: 'job';
  readonly importId: string;
  readonly labId: string;
  readonly sha256: string;
  readonly mode: ImportMode;
  readonly dryRun: boolean;
  readonly status: ImportStatus;
  readonly rows: number | null;
  readonly validRows: number | null;
  readonly invalidRows: number | null;
  readonly errors: readonly RowError[];
  readonly processed: number;
  readonly lastRow: number;
  readonly created: number;
  readonly refused: number;
  readonly cancelRequested: boolean;
  readonly submittedAt: string;
  readonly finishedAt: string | null;
}
export type ImportState = { readonly kind: 'none' } | ImportJob;

/** An earlier import of the same file into the same lab, as the read side knows it. */
export interface PriorImport {
  readonly importId: string;
  readonly status: ImportStatus;
  readonly dryRun: boolean;
  readonly created: number;
}

type Data<T> = T & { readonly now: Date };
export type ImportCommand =
  | {
      readonly type: 'SubmitImport';
      readonly data: Data<{
        readonly importId: string;
        readonly labId: string;
        readonly sha256: string;
        readonly bytes: number;
        readonly mode: ImportMode;
        readonly dryRun: boolean;
        readonly allowDuplicate: boolean;
        readonly priorImports: readonly PriorImport[];
      }>;
    }
  | { readonly type: 'RecordValidation'; readonly data: Data<{ readonly summary: ValidationSummary }> }
  | { readonly type: 'StartImport'; readonly data: Data<object> }
  | {
      readonly type: 'RecordProgress' | 'CompleteImport';
      readonly data: Data<{
        readonly processed: number;
        readonly created: number;
        readonly refused: number;
        readonly lastRow: number;
      }>;
    }
  | { readonly type: 'ResumeImport'; readonly data: Data<{ readonly created: number }> }
  | {
      readonly type: 'FailImport';
      readonly data: Data<{ readonly code: ImportFailureCode; readonly message: string; readonly created: number }>;
    }
  | { readonly type: 'CancelImport'; readonly data: Data<object> }
  | { readonly type: 'ConfirmCancel'; readonly data: Data<{ readonly created: number }> };

const notFound = () => refuse({ code: 'not_found', message: 'import not found' });
const wrongStatus = (job: ImportJob, what: string) =>
  refuse({ code: 'invalid_transition', message: `an import that is ${job.status} cannot ${what}` });

/** A prior import counts as the same file in: it may have created samples. */
export const countsAsPrior = (prior: PriorImport): boolean =>
  !prior.dryRun && !(finalImportStatuses.has(prior.status) && prior.status !== 'completed' && prior.created === 0);

export function isFinal(job: ImportJob): boolean {
  return finalImportStatuses.has(job.status) || (job.dryRun && job.status === 'validated');
}

function submit(c: Extract<ImportCommand, { type: 'SubmitImport' }>['data'], state: ImportState) {
  if (state.kind !== 'none') return refuse({ code: 'conflict', message: 'import already exists' });
  const prior = c.dryRun || c.allowDuplicate ? undefined : c.priorImports.find(countsAsPrior);
  if (prior) {
    const message = `this file was imported into this lab already (import ${prior.importId}); allowDuplicate=true imports it again`;
    return refuse({ code: 'duplicate_import', status: 409, message });
  }
  const { importId, labId, sha256, bytes, mode, dryRun, allowDuplicate } = c;
  const submittedAt = c.now.toISOString();
  return accept<ImportEvent>({
    type: 'ImportSubmitted',
    data: { importId, labId, sha256, bytes, mode, dryRun, allowDuplicate, submittedAt },
  });
}

function recordValidation(c: { summary: ValidationSummary; now: Date }, job: ImportJob): Decision<ImportEvent> {
  if (job.status !== 'validating') return wrongStatus(job, 'record a validation');
  const at = c.now.toISOString();
  const { rows, validRows, invalidRows, errors } = c.summary;
  const validated: ImportEvent = {
    type: 'ImportValidated',
    data: { importId: job.importId, rows, validRows, invalidRows, errors: errors.slice(0, 100), validatedAt: at },
  };
  if (job.dryRun || job.mode !== 'atomic' || invalidRows === 0) return accept(validated);
  const message = `${invalidRows} of ${rows} rows are refused: an atomic import creates nothing`;
  return accept<ImportEvent>(validated, {
    type: 'ImportFailed',
    data: { importId: job.importId, created: 0, code: 'rows_refused', message, failedAt: at },
  });
}

function counted(
  type: 'RecordProgress' | 'CompleteImport',
  c: { processed: number; created: number; refused: number; lastRow: number; now: Date },
  job: ImportJob,
): Decision<ImportEvent> {
  if (job.status !== 'importing') return wrongStatus(job, type === 'CompleteImport' ? 'complete' : 'progress');
  if (c.created < job.created || c.processed < job.processed) {
    return refuse({ code: 'validation_failed', message: 'progress never goes back' });
  }
  const { importId } = job;
  const at = c.now.toISOString();
  return type === 'RecordProgress'
    ? accept({
        type: 'ImportProgressed',
        data: { importId, processed: c.processed, created: c.created, refused: c.refused, lastRow: c.lastRow, at },
      })
    : accept({ type: 'ImportCompleted', data: { importId, created: c.created, refused: c.refused, completedAt: at } });
}

function cancel(now: Date, job: ImportJob): Decision<ImportEvent> {
  if (isFinal(job)) return wrongStatus(job, 'be cancelled');
  if (job.status === 'importing') {
    if (job.cancelRequested) return accept();
    return accept({ type: 'ImportCancelRequested', data: { importId: job.importId, requestedAt: now.toISOString() } });
  }
  return accept({
    type: 'ImportCancelled',
    data: { importId: job.importId, created: 0, cancelledAt: now.toISOString() },
  });
}

function decideJob(command: ImportCommand, job: ImportJob): Decision<ImportEvent> {
  const { importId } = job;
  const at = command.data.now.toISOString();
  switch (command.type) {
    case 'SubmitImport':
      return submit(command.data, job);
    case 'RecordValidation':
      return recordValidation(command.data, job);
    case 'StartImport':
      if (job.status !== 'validated' || job.dryRun) return wrongStatus(job, 'start importing');
      return accept({ type: 'ImportStarted', data: { importId, startedAt: at } });
    case 'RecordProgress':
    case 'CompleteImport':
      return counted(command.type, command.data, job);
    case 'ResumeImport':
      if (job.status !== 'importing' && job.status !== 'validating') return wrongStatus(job, 'resume');
      return accept({ type: 'ImportResumed', data: { importId, created: command.data.created, resumedAt: at } });
    case 'FailImport': {
      if (isFinal(job)) return wrongStatus(job, 'fail');
      const { code, message, created } = command.data;
      return accept({ type: 'ImportFailed', data: { importId, created, code, message, failedAt: at } });
    }
    case 'CancelImport':
      return cancel(command.data.now, job);
    case 'ConfirmCancel':
      if (job.status !== 'importing' || !job.cancelRequested) return wrongStatus(job, 'confirm a cancellation');
      return accept({ type: 'ImportCancelled', data: { importId, created: command.data.created, cancelledAt: at } });
  }
}

export function decideImport(command: ImportCommand, state: ImportState): Decision<ImportEvent> {
  if (command.type === 'SubmitImport') return submit(command.data, state);
  if (state.kind === 'none') return notFound();
  return decideJob(command, state);
}

export const initialImportState = (): ImportState => ({ kind: 'none' });

function submitted(data: Extract<ImportEvent, { type: 'ImportSubmitted' }>['data']): ImportJob {
  const { importId, labId, sha256, mode, dryRun, submittedAt } = data;
  return {
    kind: 'job',
    ...{ importId, labId, sha256, mode, dryRun, submittedAt },
    status: 'validating',
    ...{ rows: null, validRows: null, invalidRows: null, errors: [] },
    ...{ processed: 0, lastRow: 0, created: 0, refused: 0, cancelRequested: false, finishedAt: null },
  };
}

function evolveJob(job: ImportJob, event: ImportEvent): ImportJob {
  switch (event.type) {
    case 'ImportSubmitted':
      return job;
    case 'ImportValidated': {
      const { rows, validRows, invalidRows, errors, validatedAt } = event.data;
      const finishedAt = job.dryRun ? validatedAt : null;
      return { ...job, status: 'validated', rows, validRows, invalidRows, errors, finishedAt };
    }
    case 'ImportStarted':
      return { ...job, status: 'importing' };
    case 'ImportProgressed':
      return { ...job, ...counts(event.data), processed: event.data.processed, lastRow: event.data.lastRow };
    case 'ImportResumed':
      return { ...job, created: event.data.created };
    case 'ImportCancelRequested':
      return { ...job, cancelRequested: true };
    case 'ImportCompleted':
      return { ...job, status: 'completed', ...counts(event.data), finishedAt: event.data.completedAt };
    case 'ImportFailed':
      return { ...job, status: 'failed', created: event.data.created, finishedAt: event.data.failedAt };
    case 'ImportCancelled':
      return { ...job, status: 'cancelled', created: event.data.created, finishedAt: event.data.cancelledAt };
  }
}

const counts = (d: { created: number; refused: number }) => ({ created: d.created, refused: d.refused });

export function evolveImport(state: ImportState, event: ImportEvent): ImportState {
  if (event.type === 'ImportSubmitted') return state.kind === 'none' ? submitted(event.data) : state;
  return state.kind === 'none' ? state : evolveJob(state, event);
}

export const importDecider: Decider<ImportCommand, ImportState, ImportEvent> = {
  decide: decideImport,
  evolve: evolveImport,
  initialState: initialImportState,
};

/** GET /imports/{id}: the job as API.md shows it. `progress` is the share of valid rows processed. */
export function importView(job: ImportJob) {
  const progress = job.status === 'completed' ? 1 : job.validRows ? Math.min(1, job.processed / job.validRows) : 0;
  return {
    id: job.importId,
    labId: job.labId,
    status: job.status,
    dryRun: job.dryRun,
    mode: job.mode,
    rows: job.rows,
    validRows: job.validRows,
    invalidRows: job.invalidRows,
    created: job.created,
    progress,
    errors: job.errors,
    sha256: job.sha256,
    startedAt: job.submittedAt,
    finishedAt: job.finishedAt,
  };
}
