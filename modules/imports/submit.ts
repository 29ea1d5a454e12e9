// Submitting an import, the same for POST /imports and the CLI: the file kept first (a job on
// record always has its file until it ends), then ImportSubmitted with the earlier imports of the
// same file into the lab (the duplicate check), then the job handed to the worker.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { ImportCommands } from './commands.ts';
import type { PriorImport } from './decide.ts';
import { digestFile } from './digest.ts';
import type { ImportMode, ImportStatus } from './events.ts';
import * as store from './store.ts';
import type { ImportWorker } from './worker.ts';

export interface NewImport {
  readonly labId: string;
  /** Who submits it: the samples it creates are theirs, created with their role in the lab. */
  readonly ownerId: string;
  readonly content: Buffer;
  readonly mode?: ImportMode | undefined;
  readonly dryRun?: boolean | undefined;
  readonly allowDuplicate?: boolean | undefined;
}

export interface SubmitDeps {
  readonly knex: Knex;
  readonly commands: ImportCommands;
  readonly worker: ImportWorker;
}

async function priorImports(knex: Knex, labId: string, sha256: string): Promise<PriorImport[]> {
  const rows = await knex('imports')
    .where({ lab_id: labId, sha256 })
    .select<{ import_id: string; status: ImportStatus; dry_run: boolean; created: number }[]>(
      'import_id',
      'status',
      'dry_run',
      'created',
    );
  return rows.map((r) => ({ importId: r.import_id, status: r.status, dryRun: r.dry_run, created: r.created }));
}

/** The new job's id; a refusal (duplicate_import) throws a DomainError and keeps nothing. */
export async function submitImport(deps: SubmitDeps, input: NewImport, cause: CommandCause): Promise<string> {
  const { sha256, bytes } = await digestFile([input.content]);
  const importId = randomUUID();
  const data = {
    importId,
    labId: input.labId,
    sha256,
    bytes,
    mode: input.mode ?? 'atomic',
    dryRun: input.dryRun ?? false,
    allowDuplicate: input.allowDuplicate ?? false,
    priorImports: await priorImports(deps.knex, input.labId, sha256),
    now: new Date(),
  };
  await store.keepFile(deps.knex, importId, input.labId, input.ownerId, input.content);
  try {
    await deps.commands.execute(importId, { type: 'SubmitImport', data }, cause, true);
  } catch (error) {
    await store.dropFile(deps.knex, importId);
    throw error;
  }
  deps.worker.submit(importId);
  return importId;
}
