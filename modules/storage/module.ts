// The storage module as the composition root sees it: its routers (commands wait for the storage
// read model: read-your-writes). Lab membership and the samples a box map shows come from other
// modules, so app/ passes them in.
import type { PlatformServices } from '../../platform/module-context.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { createStorageCommands, type StorageCommands } from './commands.ts';
import type { LabAccess } from './lab-access.ts';
import { hasChildren } from './queries.ts';
import { storageRouters, type SampleDirectory } from './routes.ts';

export const storageReadModels = ['storage'] as const;

export interface StorageModuleContext extends Pick<
  PlatformServices,
  'knex' | 'store' | 'openapi' | 'waitForProjections'
> {
  readonly labs: LabAccess;
  readonly samples: SampleDirectory;
}

export function storageModule(context: StorageModuleContext): { routers: AppRouter[]; commands: StorageCommands } {
  const commands = createStorageCommands({
    store: context.store,
    waitForReadModel: (position) => context.waitForProjections(storageReadModels, position),
    hasChildren: (unitId) => hasChildren(context.knex, unitId),
  });
  return { routers: storageRouters({ ...context, commands }), commands };
}
