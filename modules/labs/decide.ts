// Pure decider of a lab: (command, state) -> Decision. `now` and ids come in with the command.
// The lab's stream is the consistency boundary of "a lab always keeps one manager": two
// concurrent demotions are decided on the same version, one append wins, the other is decided
// again on the fresh state by the command handler and refused.
import { accept, decideByType, refuse, type CommandData, type Decision } from '../../platform/commands/decision.ts';
import type { Decider } from '../../platform/commands/handler.ts';
import { hasRole, PERSONAL_LAB_NAME, type LabEvent, type LabRole } from './events.ts';
import { evolveLab, initialLabState, managerCount, type ActiveLab, type LabState } from './evolve.ts';

/** Who asks. An administrator acts only through the admin commands. */
export interface Actor {
  readonly userId: string;
}

export type LabCommand =
  | { readonly type: 'CreateLab'; readonly data: { labId: string; name: string; actor: Actor; now: Date } }
  | { readonly type: 'EnsurePersonalLab'; readonly data: { userId: string; now: Date } }
  | {
      readonly type: 'RenameLab';
      readonly data: { actor: Actor; name: string; expectedVersion?: number | undefined; now: Date };
    }
  | { readonly type: 'AddMember'; readonly data: { actor: Actor; userId: string; role: LabRole; now: Date } }
  | {
      readonly type: 'ChangeMemberRole';
      readonly data: { actor: Actor; userId: string; role: LabRole; now: Date };
    }
  | { readonly type: 'RemoveMember'; readonly data: { actor: Actor; userId: string; now: Date } }
  /** Erasure: the person leaves, even as the last manager (an administrator can then add one). */
  | { readonly type: 'EraseMember'; readonly data: { userId: string; now: Date } }
  /** An administrator gives a lab left without a manager a manager. */
  | { readonly type: 'AdminAddManager'; readonly data: { userId: string; now: Date } };

const notFound = (): Decision<LabEvent> => refuse({ code: 'not_found', message: 'lab not found' });
const forbidden = (needed: LabRole): Decision<LabEvent> =>
  refuse({ code: 'forbidden', message: `this needs the ${needed} role in the lab` });
const lastManager = (): Decision<LabEvent> =>
  refuse({ code: 'last_manager', status: 422, message: 'a lab always keeps at least one manager' });

/** The lab as the actor may see it with at least `needed`, or the refusal (404 for a non-member). */
function asMember(state: LabState, actor: Actor, needed: LabRole): ActiveLab | Decision<LabEvent> {
  if (state.kind === 'none') return notFound();
  const role = state.members[actor.userId]?.role;
  if (role === undefined) return notFound();
  if (!hasRole(role, needed)) return forbidden(needed);
  return state;
}
const refused = (x: ActiveLab | Decision<LabEvent>): x is Decision<LabEvent> => 'ok' in x;

function created(labId: string, name: string, personal: boolean, userId: string, now: Date): LabEvent[] {
  const at = now.toISOString();
  return [
    { type: 'LabCreated', data: { labId, name, personal, createdBy: userId, createdAt: at } },
    { type: 'MemberAdded', data: { labId, userId, role: 'manager', addedAt: at } },
  ];
}

/** Would this change leave the lab without a manager? */
const losesLastManager = (lab: ActiveLab, userId: string, nextRole: LabRole | undefined): boolean =>
  lab.members[userId]?.role === 'manager' && nextRole !== 'manager' && managerCount(lab) <= 1;

function rename(c: CommandData<LabCommand, 'RenameLab'>, state: LabState): Decision<LabEvent> {
  const lab = asMember(state, c.actor, 'manager');
  if (refused(lab)) return lab;
  if (c.expectedVersion !== undefined && c.expectedVersion !== lab.version)
    return refuse({
      code: 'version_mismatch',
      message: `the lab is at version ${lab.version}, not ${c.expectedVersion}`,
      currentVersion: lab.version,
    });
  if (c.name === lab.name) return accept();
  return accept({
    type: 'LabRenamed',
    data: { labId: lab.labId, from: lab.name, to: c.name, renamedAt: c.now.toISOString() },
  });
}

function addMember(c: CommandData<LabCommand, 'AddMember'>, state: LabState): Decision<LabEvent> {
  const lab = asMember(state, c.actor, 'manager');
  if (refused(lab)) return lab;
  if (lab.personal)
    return refuse({ code: 'personal_lab', status: 422, message: 'no one else can join a personal lab' });
  if (lab.members[c.userId])
    return refuse({ code: 'already_member', status: 409, message: 'the user is already a member of the lab' });
  return accept({
    type: 'MemberAdded',
    data: { labId: lab.labId, userId: c.userId, role: c.role, addedAt: c.now.toISOString() },
  });
}

function changeRole(c: CommandData<LabCommand, 'ChangeMemberRole'>, state: LabState): Decision<LabEvent> {
  const lab = asMember(state, c.actor, 'manager');
  if (refused(lab)) return lab;
  const member = lab.members[c.userId];
  if (!member) return refuse({ code: 'not_found', message: 'member not found' });
  if (member.role === c.role) return accept();
  if (losesLastManager(lab, c.userId, c.role)) return lastManager();
  return accept({
    type: 'MemberRoleChanged',
    data: { labId: lab.labId, userId: c.userId, from: member.role, to: c.role, changedAt: c.now.toISOString() },
  });
}

function removeMember(c: CommandData<LabCommand, 'RemoveMember'>, state: LabState): Decision<LabEvent> {
  const leaving = c.userId === c.actor.userId;
  const lab = asMember(state, c.actor, leaving ? 'viewer' : 'manager');
  if (refused(lab)) return lab;
  const member = lab.members[c.userId];
  if (!member) return refuse({ code: 'not_found', message: 'member not found' });
  if (losesLastManager(lab, c.userId, undefined)) return lastManager();
  return accept({
    type: 'MemberRemoved',
    data: {
      labId: lab.labId,
      userId: c.userId,
      role: member.role,
      cause: leaving ? 'left' : 'removed',
      removedAt: c.now.toISOString(),
    },
  });
}

function eraseMember(userId: string, now: Date, state: LabState): Decision<LabEvent> {
  const member = state.kind === 'active' ? state.members[userId] : undefined;
  if (state.kind === 'none' || !member) return accept();
  return accept({
    type: 'MemberRemoved',
    data: { labId: state.labId, userId, role: member.role, cause: 'erased', removedAt: now.toISOString() },
  });
}

function adminAddManager(userId: string, now: Date, state: LabState): Decision<LabEvent> {
  if (state.kind === 'none') return notFound();
  if (managerCount(state) > 0)
    return refuse({ code: 'lab_has_manager', status: 422, message: 'the lab has a manager: they add members' });
  const at = now.toISOString();
  const member = state.members[userId];
  if (member)
    return accept({
      type: 'MemberRoleChanged',
      data: { labId: state.labId, userId, from: member.role, to: 'manager', changedAt: at },
    });
  return accept({ type: 'MemberAdded', data: { labId: state.labId, userId, role: 'manager', addedAt: at } });
}

export const decideLab = decideByType<LabCommand, LabState, LabEvent>({
  CreateLab: (c, state) =>
    state.kind === 'none'
      ? accept(...created(c.labId, c.name, false, c.actor.userId, c.now))
      : refuse({ code: 'conflict', message: 'lab already exists' }),
  EnsurePersonalLab: (c, state) =>
    state.kind === 'none' ? accept(...created(c.userId, PERSONAL_LAB_NAME, true, c.userId, c.now)) : accept(),
  RenameLab: rename,
  AddMember: addMember,
  ChangeMemberRole: changeRole,
  RemoveMember: removeMember,
  EraseMember: (c, state) => eraseMember(c.userId, c.now, state),
  AdminAddManager: (c, state) => adminAddManager(c.userId, c.now, state),
});

export const labDecider: Decider<LabCommand, LabState, LabEvent> = {
  decide: decideLab,
  evolve: evolveLab,
  initialState: initialLabState,
};
