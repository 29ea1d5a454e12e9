// Pure evolver of a lab's stream, with its initial state.
import type { LabEvent, LabRole } from './events.ts';

export interface Member {
  readonly role: LabRole;
  readonly addedAt: string;
}

export interface ActiveLab {
  readonly kind: 'active';
  readonly labId: string;
  readonly name: string;
  readonly personal: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly members: Readonly<Record<string, Member>>;
  /** Events in the stream so far: the ETag. */
  readonly version: number;
}

export type LabState = { readonly kind: 'none' } | ActiveLab;

export const initialLabState = (): LabState => ({ kind: 'none' });

export const managerCount = (lab: ActiveLab): number =>
  Object.values(lab.members).filter((m) => m.role === 'manager').length;

function withoutMember(members: Readonly<Record<string, Member>>, userId: string): Record<string, Member> {
  const rest = { ...members };
  delete rest[userId];
  return rest;
}

export function evolveLab(state: LabState, event: LabEvent): LabState {
  if (event.type === 'LabCreated') {
    const { labId, name, personal, createdAt } = event.data;
    return { kind: 'active', labId, name, personal, createdAt, updatedAt: createdAt, members: {}, version: 1 };
  }
  if (state.kind === 'none') return state;
  const version = state.version + 1;
  switch (event.type) {
    case 'LabRenamed':
      return { ...state, name: event.data.to, updatedAt: event.data.renamedAt, version };
    case 'MemberAdded':
      return {
        ...state,
        members: { ...state.members, [event.data.userId]: { role: event.data.role, addedAt: event.data.addedAt } },
        updatedAt: event.data.addedAt,
        version,
      };
    case 'MemberRoleChanged': {
      const member = state.members[event.data.userId];
      if (!member) return { ...state, version };
      return {
        ...state,
        members: { ...state.members, [event.data.userId]: { ...member, role: event.data.to } },
        updatedAt: event.data.changedAt,
        version,
      };
    }
    case 'MemberRemoved':
      return {
        ...state,
        members: withoutMember(state.members, event.data.userId),
        updatedAt: event.data.removedAt,
        version,
      };
  }
}
