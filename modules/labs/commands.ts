// The labs command side, on the one command pipeline: each command loads lab-<id>, decides,
// appends with optimistic concurrency and waits for the labs read model. A concurrent change of
// the same lab is decided again on the fresh state, so "one manager at least" holds under races.
import { randomUUID } from 'node:crypto';
import { CommandHandler } from '../../platform/commands/handler.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import { labDecider, type Actor, type LabCommand } from './decide.ts';
import { labEvents, labStream, type LabRole } from './events.ts';
import type { ActiveLab, LabState } from './evolve.ts';

export interface LabCommandDeps {
  readonly store: EventStore;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  readonly now?: () => Date;
}

const active = (state: LabState): ActiveLab => {
  if (state.kind !== 'active') throw new Error('no lab');
  return state;
};

export function createLabCommands(deps: LabCommandDeps) {
  const now = deps.now ?? (() => new Date());
  const handlerDeps = { store: deps.store, waitForReadModels: deps.waitForReadModel, now };
  const labs = new CommandHandler(handlerDeps, labDecider, labEvents);
  const run = async (labId: string, command: LabCommand, cause: CommandCause, wait = true) =>
    active((await labs.handle(labStream(labId), command, cause, { wait })).state);

  return {
    create: (actor: Actor, name: string, cause: CommandCause) => {
      const labId = randomUUID();
      return run(labId, { type: 'CreateLab', data: { labId, name, actor, now: now() } }, cause);
    },
    /** Idempotent: the personal lab of an account (its id is the account's id). */
    ensurePersonalLab: async (userId: string, cause: CommandCause, wait = true) => {
      await run(userId, { type: 'EnsurePersonalLab', data: { userId, now: now() } }, cause, wait);
    },
    rename: (actor: Actor, labId: string, name: string, expectedVersion: number | undefined, cause: CommandCause) =>
      run(labId, { type: 'RenameLab', data: { actor, name, expectedVersion, now: now() } }, cause),
    addMember: (actor: Actor, labId: string, userId: string, role: LabRole, cause: CommandCause) =>
      run(labId, { type: 'AddMember', data: { actor, userId, role, now: now() } }, cause),
    changeRole: (actor: Actor, labId: string, userId: string, role: LabRole, cause: CommandCause) =>
      run(labId, { type: 'ChangeMemberRole', data: { actor, userId, role, now: now() } }, cause),
    removeMember: async (actor: Actor, labId: string, userId: string, cause: CommandCause) => {
      await labs.handle(labStream(labId), { type: 'RemoveMember', data: { actor, userId, now: now() } }, cause);
    },
    /** Erasure: the person leaves the lab, even as its last manager. Idempotent. */
    eraseMember: async (labId: string, userId: string, cause: CommandCause) => {
      await labs.handle(labStream(labId), { type: 'EraseMember', data: { userId, now: now() } }, cause, {
        wait: false,
      });
    },
    adminAddManager: (labId: string, userId: string, cause: CommandCause) =>
      run(labId, { type: 'AdminAddManager', data: { userId, now: now() } }, cause),
  };
}

export type LabCommands = ReturnType<typeof createLabCommands>;
