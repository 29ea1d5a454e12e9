// The imports module as the composition root sees it: its routers, its command side and its
// worker. What it needs of other modules (lab roles, the sample rules, the lab's barcodes and
// places, creating a sample) app/ passes in.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { createImportCommands } from './commands.ts';
import { importRouters, type RoleIn } from './routes.ts';
import { createImportWorker, type ImportWorker, type ImportWorkerDeps } from './worker.ts';

export const importsReadModels = ['imports'] as const;

export interface ImportsModuleContext {
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  readonly logger: Logger;
  readonly waitForProjections: (names: readonly string[], position: Position) => Promise<boolean>;
  readonly roleIn: RoleIn;
  /** For the job claims (worker.ts). */
  readonly databaseUrl?: string;
  readonly samples: Pick<ImportWorkerDeps, 'rules' | 'lookups' | 'createSamples'>;
}

/** The job side alone (the CLI runs imports without the API): commands and a worker. */
export function importJobs(context: Omit<ImportsModuleContext, 'openapi' | 'roleIn'>) {
  const commands = createImportCommands({
    store: context.store,
    waitForReadModel: (position) => context.waitForProjections(importsReadModels, position),
  });
  const worker = createImportWorker({
    ...context.samples,
    knex: context.knex,
    commands,
    logger: context.logger,
    ...(context.databaseUrl ? { databaseUrl: context.databaseUrl } : {}),
  });
  return { knex: context.knex, commands, worker };
}

export function importsModule(context: ImportsModuleContext): { routers: AppRouter[]; worker: ImportWorker } {
  const { commands, worker } = importJobs(context);
  return {
    routers: importRouters({ knex: context.knex, openapi: context.openapi, commands, worker, roleIn: context.roleIn }),
    worker,
  };
}
