// Who may do what with a lab's storage, as the storage module needs to know it. Lab membership
// belongs to the labs module; the composition root (app/) passes in an implementation. Until
// labs are wired, `personalLabOnly` stands in: a user's personal lab has the user's id, and they
// manage it.
import { roleLadder } from '../../platform/commands/roles.ts';

export const labRoles = ['viewer', 'technician', 'manager'] as const;
export type LabRole = (typeof labRoles)[number];

export interface LabAccess {
  /** The caller's role in the lab; undefined when they are not a member (the lab is then 404 to them). */
  roleIn(userId: string, labId: string): Promise<LabRole | undefined>;
  /** Every lab the caller belongs to (lists without ?labId=). */
  labsOf(userId: string): Promise<readonly string[]>;
}

/** A lab's roles in order: who reaches what, and the 404/403 of a route. */
export const labLadder = roleLadder(labRoles, 'the lab');
export const atLeast = labLadder.atLeast;

export const personalLabOnly: LabAccess = {
  roleIn: (userId, labId) => Promise.resolve(userId === labId ? 'manager' : undefined),
  labsOf: (userId) => Promise.resolve([userId]),
};
