// The worker in the service: runs a submitted job in the background, one job at a time per
// process, each job claimed first (an advisory lock per job) so that of several API processes
// resuming the same kept files at start, one runs each job. A job drops its file when it ends, so at start the kept files are the jobs to pick up
// (the runner resumes each, or ends it failed with the exact count created). What it needs of other modules (the sample rules, the
// lab's barcodes and places, creating a sample) is injected by app/.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { tryAdvisoryLock } from '../../platform/database/advisory-lock.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import type { ImportCommands } from './commands.ts';
import { isFinal, type ImportJob } from './decide.ts';
import type { LabLookups, RowRules } from './rules.ts';
import { runImport, type CreateOutcome, type PlannedSample } from './runner.ts';
import * as store from './store.ts';

export interface ImportWorkerDeps {
  readonly knex: Knex;
  readonly commands: ImportCommands;
  readonly logger: Logger;
  readonly rules: RowRules;
  readonly lookups: (labId: string) => LabLookups;
  /** Creates a batch's samples with their planned ids, one outcome each; `ownerId` submitted the import. */
  createSamples(job: ImportJob, ownerId: string, samples: readonly PlannedSample[]): Promise<CreateOutcome[]>;
  readonly batchSize?: number;
  /** With it, a job is claimed with an advisory lock: of several processes, one runs it, the others pass. */
  readonly databaseUrl?: string;
}

/** "VLIM": the imports' advisory locks, one per job. */
const LOCK_NAMESPACE = 0x564c494d;

export interface ImportWorker {
  /** Queues the job; it runs after the jobs before it. */
  submit(importId: string): void;
  /** Queues every job that is not final (at start). */
  resumeAll(): Promise<void>;
  /** Resolves once the queue is empty (tests). */
  idle(): Promise<void>;
  /** Starts no further job (the one running stops with the process; a restart resumes it). */
  stop(): void;
}

export function createImportWorker(deps: ImportWorkerDeps): ImportWorker {
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = async (importId: string) => {
    if (stopped) return;
    const claim = deps.databaseUrl
      ? await tryAdvisoryLock(deps.databaseUrl, {
          namespace: LOCK_NAMESPACE,
          key: importId,
          applicationName: 'vialog-import',
        })
      : undefined;
    if (deps.databaseUrl && !claim) return; // another process runs it (and a restart of that one resumes it)
    try {
      await runClaimed(importId);
    } finally {
      await claim?.release();
    }
  };
  const runClaimed = async (importId: string) => {
    const file = await store.storedFile(deps.knex, importId);
    const state = await deps.commands.load(importId);
    if (state.kind === 'none') return;
    const cause = systemCause('import', importId);
    const job = await runImport(importId, {
      load: (id) => deps.commands.load(id),
      execute: (id, command) => deps.commands.execute(id, command, cause),
      file: () => (file ? [file.content] : undefined),
      validation: { rules: deps.rules, lookups: deps.lookups(state.labId) },
      createSamples: (samples) => deps.createSamples(state, file?.ownerId ?? '', samples),
      countCreated: (id) => store.countCreated(deps.knex, id),
      recordRefused: (id, rows) => store.recordRefused(deps.knex, id, rows),
      refusedRows: (id) => store.refusedAtValidation(deps.knex, id),
      ...(deps.batchSize ? { batchSize: deps.batchSize } : {}),
    });
    // A job that ended needs its file no more: the kept files are the jobs still to run.
    if (isFinal(job)) await store.dropFile(deps.knex, importId);
  };
  const submit = (importId: string) => {
    chain = chain
      .then(() => run(importId))
      .catch((err: unknown) => deps.logger.error({ err, importId }, 'import job stopped'));
  };
  return {
    submit,
    async resumeAll() {
      const rows = await deps.knex('import_files').orderBy('created_at').select<{ import_id: string }[]>('import_id');
      for (const r of rows) submit(r.import_id);
    },
    idle: () => chain,
    stop() {
      stopped = true;
    },
  };
}
