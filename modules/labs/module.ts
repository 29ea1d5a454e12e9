// The labs module as the composition root sees it: its routers and its commands (the app wires
// the reactions to other modules' events: a personal lab per account, leaving every lab on erasure).
import type { PlatformServices } from '../../platform/module-context.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { createLabCommands, type LabCommands } from './commands.ts';
import { labRouters } from './routes.ts';

export const labsReadModels = ['labs'] as const;

export type LabsModuleContext = Pick<PlatformServices, 'knex' | 'store' | 'openapi' | 'waitForProjections'>;

export function labsModule(context: LabsModuleContext): { routers: AppRouter[]; commands: LabCommands } {
  const commands = createLabCommands({
    store: context.store,
    waitForReadModel: (position) => context.waitForProjections(labsReadModels, position),
  });
  return { routers: labRouters({ commands, knex: context.knex, openapi: context.openapi }), commands };
}
