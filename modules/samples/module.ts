// The samples module as the composition root sees it: its routers (commands wait for the
// samples read model: read-your-writes).
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { PlatformServices } from '../../platform/module-context.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { createSampleCommands } from './commands.ts';
import { locationRouters, type SlotKeeper } from './routes-location.ts';
import { sampleRouters } from './routes.ts';
import { physicalSampleRouters } from './routes-physical.ts';

export const samplesReadModels = ['samples'] as const;

export interface SamplesModuleContext extends Pick<
  PlatformServices,
  'knex' | 'store' | 'openapi' | 'waitForProjections'
> {
  /** The box side of storage placement (the storage module, wired in app/). */
  readonly slots?: SlotKeeper | undefined;
  /** SAMPLES_MAX_AGE_YEARS (default 10, 0: no limit). */
  readonly maxAgeYears?: number | undefined;
}

export function samplesModule(context: SamplesModuleContext): {
  routers: AppRouter[];
  commands: ReturnType<typeof createSampleCommands>;
  start(): Promise<number>;
} {
  const commands = createSampleCommands({
    store: context.store,
    waitForReadModel: (position) => context.waitForProjections(samplesReadModels, position),
    maxAgeYears: context.maxAgeYears,
  });
  const { knex, store, openapi, slots } = context;
  // The location routes first: the samples group's tag description is the one that stays.
  const located = slots ? locationRouters({ commands, knex, openapi, slots }) : [];
  const storage = slots && {
    samplesInUnit: (unitId: string) => slots.samplesIn(unitId),
    locationsOf: (sampleIds: readonly string[]) => slots.locationsOf(sampleIds),
    sampleLeft: (id: string, reason: 'final' | 'transferred', cause: CommandCause) => slots.leave(id, reason, cause),
  };
  return {
    /** Completes children announced by a parent's event but never written (a crash between the two steps). */
    start: () => commands.completePendingChildren(systemCause('samples: children announced before a restart')),
    routers: [
      ...located,
      ...physicalSampleRouters({ commands, knex, openapi, ...storage }),
      ...sampleRouters({ commands, knex, store, openapi, ...storage }),
    ],
    commands,
  };
}
