// The import job's command side, on the one command pipeline: each command loads import-<id>,
// decides with the job's pure decider and appends. The runner's commands do not wait for the
// read model (a job records progress after every batch); a user's submit and cancel do.
import { CommandHandler } from '../../platform/commands/handler.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import { importDecider, type ImportCommand, type ImportState } from './decide.ts';
import { importEventSchemaVersions, importStream, isImportEventType, parseImportEvent } from './events.ts';

export interface ImportCommandDeps {
  readonly store: EventStore;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
}

export function createImportCommands(deps: ImportCommandDeps) {
  const handler = new CommandHandler({ store: deps.store, waitForReadModels: deps.waitForReadModel }, importDecider, {
    isType: isImportEventType,
    parse: parseImportEvent,
    schemaVersions: importEventSchemaVersions,
  });
  return {
    async load(importId: string): Promise<ImportState> {
      return (await handler.load(importStream(importId))).state;
    },
    async execute(importId: string, command: ImportCommand, cause: CommandCause, wait = false): Promise<ImportState> {
      return (await handler.handle(importStream(importId), command, cause, { wait })).state;
    },
  };
}

export type ImportCommands = ReturnType<typeof createImportCommands>;
