// The labs module's public contract: its events as zod schemas and TS types. A lab and its
// membership live on one stream, lab-<labId>, which is the consistency boundary of "a lab always
// keeps one manager". A personal lab has the id of the account it belongs to.
import { z } from 'zod';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';

export const labRoles = ['viewer', 'technician', 'manager'] as const;
export type LabRole = (typeof labRoles)[number];

/** Each role includes the ones before it. */
export const roleRank: Readonly<Record<LabRole, number>> = { viewer: 1, technician: 2, manager: 3 };
export const hasRole = (role: LabRole | undefined, needed: LabRole): boolean =>
  role !== undefined && roleRank[role] >= roleRank[needed];

/** Why a member left: removed by a manager or an administrator, left on their own, or erased. */
export const removalCauses = ['removed', 'left', 'erased'] as const;

const id = z.uuid();
const timestamp = z.iso.datetime();
const role = z.enum(labRoles);
export const labName = z.string().min(1).max(100);

export const labEventSchemas = {
  LabCreated: z.strictObject({ labId: id, name: labName, personal: z.boolean(), createdBy: id, createdAt: timestamp }),
  LabRenamed: z.strictObject({ labId: id, from: labName, to: labName, renamedAt: timestamp }),
  MemberAdded: z.strictObject({ labId: id, userId: id, role, addedAt: timestamp }),
  MemberRoleChanged: z.strictObject({ labId: id, userId: id, from: role, to: role, changedAt: timestamp }),
  MemberRemoved: z.strictObject({ labId: id, userId: id, role, cause: z.enum(removalCauses), removedAt: timestamp }),
} as const;

/** The labs events' codec: type names, guard, validating parse, schema versions. */
export const labEvents = eventCatalog(labEventSchemas);
export const labEventTypes = labEvents.types;
export type LabEvent = EventsOf<typeof labEventSchemas>;

export const labStream = (labId: string): string => `lab-${labId}`;
export const labIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith('lab-') ? streamId.slice('lab-'.length) : undefined;

/** The name every personal lab gets (a person's name is personal data; a lab name is not). */
export const PERSONAL_LAB_NAME = 'Personal lab';
