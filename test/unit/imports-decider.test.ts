// given/when/then specs of the import job: its status graph, both modes, the dry run, the
// duplicate file, cancellation and the restart (API.md, Imports and bulk changes).
import test from 'ava';
import type { ImportCommand, PriorImport } from '../../modules/imports/decide.ts';
import { evolveImport, importDecider, importView, initialImportState } from '../../modules/imports/decide.ts';
import type { ImportEvent } from '../../modules/imports/events.ts';
import { importEventSchemas } from '../../modules/imports/events.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(importDecider);
const now = new Date('2026-11-22T10:00:00Z');
const at = now.toISOString();
const importId = '55555555-5555-4555-8555-555555555555';
const labId = '66666666-6666-4666-8666-666666666666';
const sha256 = 'ab'.repeat(32);
const error = { row: 2, column: 'subjectId' as const, code: 'invalid_value' as const, message: 'bad' };

const submit = (over: Partial<Extract<ImportCommand, { type: 'SubmitImport' }>['data']> = {}): ImportCommand => ({
  type: 'SubmitImport',
  data: {
    importId,
    labId,
    sha256,
    bytes: 100,
    mode: 'atomic',
    dryRun: false,
    allowDuplicate: false,
    priorImports: [],
    now,
    ...over,
  },
});
const submitted = (over: Partial<Extract<ImportEvent, { type: 'ImportSubmitted' }>['data']> = {}): ImportEvent => ({
  type: 'ImportSubmitted',
  data: {
    importId,
    labId,
    sha256,
    bytes: 100,
    mode: 'atomic',
    dryRun: false,
    allowDuplicate: false,
    submittedAt: at,
    ...over,
  },
});
const validation = (invalidRows: number): ImportCommand => ({
  type: 'RecordValidation',
  data: { summary: { rows: 10, validRows: 10 - invalidRows, invalidRows, errors: invalidRows ? [error] : [] }, now },
});
const validated = (invalidRows: number): ImportEvent => ({
  type: 'ImportValidated',
  data: {
    importId,
    rows: 10,
    validRows: 10 - invalidRows,
    invalidRows,
    errors: invalidRows ? [error] : [],
    validatedAt: at,
  },
});
const started: ImportEvent = { type: 'ImportStarted', data: { importId, startedAt: at } };
const progressed = (created: number): ImportEvent => ({
  type: 'ImportProgressed',
  data: { importId, processed: created, created, refused: 0, lastRow: created + 1, at },
});
const cancelRequested: ImportEvent = { type: 'ImportCancelRequested', data: { importId, requestedAt: at } };
const simple = (type: 'StartImport' | 'CancelImport'): ImportCommand => ({ type, data: { now } });
const prior = (over: Partial<PriorImport>): PriorImport => ({
  importId: '77777777-7777-4777-8777-777777777777',
  status: 'completed',
  dryRun: false,
  created: 10,
  ...over,
});

test('every event the decider makes matches its schema', (t) => {
  const events = [submitted(), validated(1), started, progressed(3), cancelRequested];
  for (const e of events) t.notThrows(() => importEventSchemas[e.type].parse(e.data), e.type);
});

test('a submission opens the job in validating, with its sha256, mode and dry-run flag', (t) => {
  spec(t).given([]).when(submit()).then([submitted()]);
  const state = evolveImport(initialImportState(), submitted());
  t.like(state, { status: 'validating', sha256, mode: 'atomic', dryRun: false, labId });
});

test('the same file into the same lab is refused with 409 duplicate_import', (t) => {
  spec(t)
    .given([])
    .when(submit({ priorImports: [prior({})] }))
    .thenFails({ code: 'duplicate_import', status: 409 });
});

test('allowDuplicate imports the same file again', (t) => {
  spec(t)
    .given([])
    .when(submit({ allowDuplicate: true, priorImports: [prior({})] }))
    .then([submitted({ allowDuplicate: true })]);
});

test('an earlier dry run, or an earlier import that failed having created nothing, is no duplicate', (t) => {
  const priors = [
    prior({ dryRun: true, status: 'validated', created: 0 }),
    prior({ status: 'failed', created: 0 }),
    prior({ status: 'cancelled', created: 0 }),
  ];
  spec(t)
    .given([])
    .when(submit({ priorImports: priors }))
    .then([submitted()]);
});

test('an earlier import that failed after creating samples is a duplicate', (t) => {
  spec(t)
    .given([])
    .when(submit({ priorImports: [prior({ status: 'failed', created: 4 })] }))
    .thenFails({ code: 'duplicate_import' });
});

test('a dry run is never a duplicate (checking a file twice writes nothing)', (t) => {
  spec(t)
    .given([])
    .when(submit({ dryRun: true, priorImports: [prior({})] }))
    .then([submitted({ dryRun: true })]);
});

test('a submitted job cannot be submitted again', (t) => {
  spec(t).given([submitted()]).when(submit()).thenFails({ code: 'conflict' });
});

test('validation records the counts and the first errors', (t) => {
  spec(t)
    .given([submitted({ mode: 'best-effort' })])
    .when(validation(1))
    .then([validated(1)]);
});

test('atomic: one refused row and the job fails at validation with nothing created', (t) => {
  const outcome = spec(t).given([submitted()]).when(validation(1)).outcome();
  t.true(outcome.ok);
  t.deepEqual(outcome.events[0], validated(1));
  t.like(outcome.events[1], { type: 'ImportFailed', data: { created: 0, code: 'rows_refused' } });
});

test('a dry run ends at validated, even with refused rows in atomic mode, and cannot start', (t) => {
  spec(t)
    .given([submitted({ dryRun: true })])
    .when(validation(1))
    .then([validated(1)]);
  spec(t)
    .given([submitted({ dryRun: true }), validated(0)])
    .when(simple('StartImport'))
    .thenFails({ code: 'invalid_transition' });
});

test('a validated job starts importing', (t) => {
  spec(t)
    .given([submitted(), validated(0)])
    .when(simple('StartImport'))
    .then([started]);
});

test('a job still validating cannot start', (t) => {
  spec(t).given([submitted()]).when(simple('StartImport')).thenFails({ code: 'invalid_transition' });
});

test('progress is recorded while importing, and never goes back', (t) => {
  const given = [submitted(), validated(0), started, progressed(5)];
  spec(t)
    .given(given)
    .when({ type: 'RecordProgress', data: { processed: 7, created: 7, refused: 0, lastRow: 8, now } })
    .then([progressed(7)]);
  spec(t)
    .given(given)
    .when({ type: 'RecordProgress', data: { processed: 3, created: 3, refused: 0, lastRow: 4, now } })
    .thenFails({ code: 'validation_failed' });
});

test('an importing job completes with its exact created count', (t) => {
  spec(t)
    .given([submitted({ mode: 'best-effort' }), validated(1), started])
    .when({ type: 'CompleteImport', data: { processed: 10, created: 9, refused: 1, lastRow: 11, now } })
    .then([{ type: 'ImportCompleted', data: { importId, created: 9, refused: 1, completedAt: at } }]);
});

test('a completed job is final: it can neither fail nor be cancelled', (t) => {
  const done: ImportEvent = { type: 'ImportCompleted', data: { importId, created: 10, refused: 0, completedAt: at } };
  const given = [submitted(), validated(0), started, done];
  spec(t).given(given).when(simple('CancelImport')).thenFails({ code: 'invalid_transition' });
  spec(t)
    .given(given)
    .when({ type: 'FailImport', data: { code: 'interrupted', message: 'x', created: 10, now } })
    .thenFails({ code: 'invalid_transition' });
});

test('cancelling before the import starts cancels at once, with nothing created', (t) => {
  spec(t)
    .given([submitted(), validated(0)])
    .when(simple('CancelImport'))
    .then([{ type: 'ImportCancelled', data: { importId, created: 0, cancelledAt: at } }]);
});

test('cancelling a running import is a request; the runner confirms it with the exact count', (t) => {
  const running = [submitted(), validated(0), started, progressed(4)];
  spec(t).given(running).when(simple('CancelImport')).then([cancelRequested]);
  spec(t)
    .given([...running, cancelRequested])
    .when(simple('CancelImport'))
    .then([]);
  spec(t)
    .given([...running, cancelRequested])
    .when({ type: 'ConfirmCancel', data: { created: 6, now } })
    .then([{ type: 'ImportCancelled', data: { importId, created: 6, cancelledAt: at } }]);
});

test('a cancellation cannot be confirmed unless one was requested', (t) => {
  spec(t)
    .given([submitted(), validated(0), started])
    .when({ type: 'ConfirmCancel', data: { created: 0, now } })
    .thenFails({ code: 'invalid_transition' });
});

test('after a restart a running import resumes from the count of samples that exist', (t) => {
  const given = [submitted(), validated(0), started, progressed(4)];
  spec(t)
    .given(given)
    .when({ type: 'ResumeImport', data: { created: 6, now } })
    .then([{ type: 'ImportResumed', data: { importId, created: 6, resumedAt: at } }]);
  const state = [
    ...given,
    { type: 'ImportResumed', data: { importId, created: 6, resumedAt: at } } as ImportEvent,
  ].reduce(evolveImport, initialImportState());
  t.like(state, { status: 'importing', created: 6 });
});

test('or it ends failed, interrupted, with that exact count', (t) => {
  spec(t)
    .given([submitted(), validated(0), started])
    .when({ type: 'FailImport', data: { code: 'interrupted', message: 'the file is gone', created: 6, now } })
    .then([
      {
        type: 'ImportFailed',
        data: { importId, created: 6, code: 'interrupted', message: 'the file is gone', failedAt: at },
      },
    ]);
});

test('commands on an unknown import are not_found', (t) => {
  spec(t).given([]).when(simple('StartImport')).thenFails({ code: 'not_found' });
});

test('the view shows the status, counts, errors and progress as API.md names them', (t) => {
  const state = [submitted(), validated(2), started, progressed(4)].reduce(evolveImport, initialImportState());
  if (state.kind !== 'job') return t.fail();
  t.like(importView(state), {
    id: importId,
    status: 'importing',
    rows: 10,
    validRows: 8,
    invalidRows: 2,
    created: 4,
    progress: 0.5,
    errors: [error],
    finishedAt: null,
  });
});
