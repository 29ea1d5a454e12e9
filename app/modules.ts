// The composition root's list of what the service is made of: each module's routers, its
// OpenAPI operations and the projections that build its read models; the platform never imports
// the modules.
import type { Middleware } from 'koa';
import type { AuditDigester } from '../platform/audit/digester.ts';
import type { PersonalDataVault } from '../platform/crypto/personal-data.ts';
import type { EventStore } from '../platform/eventstore/port.ts';
import type { AppRouter } from '../platform/http/state.ts';
import type { PlatformServices } from '../platform/module-context.ts';
import type { Projection } from '../projections/engine/index.ts';
import { identityProjection } from '../projections/identity/identity-read-model.ts';
import { samplesProjection } from '../projections/samples/samples-read-model.ts';
import { samplesModule } from '../modules/samples/module.ts';
import { dialogProjection } from '../projections/dialog/dialog-read-model.ts';
import { dialogModule } from '../modules/dialog/module.ts';
import { auditProjection } from '../projections/audit/audit-read-model.ts';
import { auditModule } from '../modules/audit/module.ts';
import { identityModule } from '../modules/identity/module.ts';
import { labsProjection } from '../projections/labs/labs-read-model.ts';
import { labsModule } from '../modules/labs/module.ts';
import { createLabCommands } from '../modules/labs/commands.ts';
import { labReactions } from './lab-reactions.ts';
import type { PasswordHasher } from '../modules/identity/passwords.ts';
import { storageProjection } from '../projections/storage/storage-read-model.ts';
import { storageModule } from '../modules/storage/module.ts';
import type { StorageCommands } from '../modules/storage/commands.ts';
import type { SampleCommands } from '../modules/samples/commands.ts';
import {
  reconcilePlacements,
  samplesForBoxMaps,
  slotKeeper,
  storageFacts,
  storageLabAccess,
} from './storage-wiring.ts';
import { importsProjection } from '../projections/imports/imports-read-model.ts';
import { importsModule } from '../modules/imports/module.ts';
import { sampleExportRouter } from './sample-export.ts';
import { sampleBulkRouter } from './sample-bulk.ts';
import { importSamplePorts } from './imports-batch.ts';

export interface ModuleContext extends PlatformServices {
  /** Signs audit digests (on request here; on a schedule in the projector role). */
  readonly auditDigester: AuditDigester;
  /** Tests only: a cheaper argon2 than production's. */
  readonly passwordHasher?: PasswordHasher;
}

export interface ComposedModules {
  readonly routers: AppRouter[];
  readonly authenticate: Middleware;
  /** Start-up work of the modules (admin bootstrap, warm-ups), run once the API is composed. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Every projection of every module (the projector runs these even without the API). With the
 * event store, also the reactions that append events (not for a consistency check's replay).
 */
export function allProjections(vault: PersonalDataVault, store?: EventStore): Projection[] {
  const projections = [
    identityProjection(vault),
    labsProjection,
    samplesProjection,
    dialogProjection(vault),
    auditProjection,
    storageProjection,
    importsProjection,
  ];
  if (store)
    projections.push(labReactions(createLabCommands({ store, waitForReadModel: () => Promise.resolve(true) })));
  return projections;
}

export function composeModules(context: ModuleContext): ComposedModules {
  const identity = identityModule({
    ...context,
    ...(context.passwordHasher ? { hasher: context.passwordHasher } : {}),
  });
  const labAccess = storageLabAccess(context.knex);
  const storage = storageModule({
    ...context,
    labs: labAccess,
    samples: samplesForBoxMaps(context.knex),
  });
  const samples = samplesModule({
    ...context,
    slots: slotKeeper(context.knex, storage.commands),
    maxAgeYears: context.config.SAMPLES_MAX_AGE_YEARS,
  });
  let reconciling: Promise<void> | undefined;
  const roleIn = (userId: string, labId: string) => labAccess.roleIn(userId, labId);
  const imports = importsModule({
    ...context,
    roleIn,
    samples: importSamplePorts(context.knex, context.store, roleIn),
  });
  return {
    routers: [
      sampleExportRouter(context.knex, context.openapi), // before /samples/{id}
      sampleBulkRouter(context.knex, context.store, context.openapi),
      ...identity.routers,
      ...labsModule(context).routers,
      ...samples.routers,
      ...dialogModule({ ...context, storage: storageFacts(context.knex) }).routers,
      ...auditModule(context).routers,
      ...storage.routers,
      ...imports.routers,
    ],
    authenticate: identity.authenticate,
    async start() {
      await identity.start();
      await samples.start();
      reconciling = completePlacements(context, storage.commands, samples.commands);
      await imports.worker.resumeAll();
    },
    async stop() {
      await reconciling;
      await identity.stop();
      imports.worker.stop();
    },
  };
}

/** In the background at start: placements a crash cut in two are completed or undone (app/storage-wiring.ts). */
async function completePlacements(context: ModuleContext, storage: StorageCommands, samples: SampleCommands) {
  try {
    const head = await context.store.headPosition();
    if (head) await context.waitForProjections(['storage', 'samples'], head);
    const outcome = await reconcilePlacements({ knex: context.knex, storage, samples });
    if (outcome.completed + outcome.released > 0) context.logger.info({ outcome }, 'placements reconciled');
  } catch (error) {
    context.logger.warn({ err: error }, 'placement reconciliation failed; it runs again at the next start');
  }
}
