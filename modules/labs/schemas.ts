// The labs module's HTTP contract as zod schemas (API.md, Labs).
import { z } from 'zod';
import { paginationQuery } from '../../platform/http/pagination.ts';
import { labRoles } from './events.ts';

const role = z.enum(labRoles).meta({ description: 'viewer | technician | manager (each includes the one before)' });
const name = z.string().min(1).max(100).meta({ description: '1–100 characters', example: 'Haematology' });
const reason = z
  .string()
  .max(500)
  .optional()
  .meta({ description: 'Why (stored in the event metadata); X-Change-Reason wins' });
const uuid = z.uuid().overwrite((id) => id.toLowerCase());

export const createBody = z.strictObject({ name, reason });
export const renameBody = z.strictObject({ name, reason });
export const addMemberBody = z.strictObject({ username: z.string().min(1).max(64), role, reason });
export const changeRoleBody = z.strictObject({ role, reason });
export const adminAddManagerBody = z.strictObject({ username: z.string().min(1).max(64), reason });

export const labSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    personal: z.boolean().meta({ description: "An account's own lab: its only member, no one else can join" }),
    role: role.meta({ description: "The caller's role in the lab" }),
    createdAt: z.iso.datetime(),
    version: z.number().int().meta({ description: "Events in the lab's stream; the ETag" }),
  })
  .meta({ id: 'Lab' });

export const memberSchema = z
  .object({
    userId: z.uuid(),
    username: z.string().nullable().meta({ description: 'Null once the member was erased' }),
    role,
    addedAt: z.iso.datetime(),
  })
  .meta({ id: 'LabMember' });

export const labDetailSchema = labSchema.extend({ members: z.array(memberSchema) }).meta({ id: 'LabDetail' });

export const adminLabSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    personal: z.boolean(),
    members: z.number().int(),
    managers: z.number().int().meta({ description: '0: the lab needs an administrator to add a manager' }),
    createdAt: z.iso.datetime(),
    version: z.number().int(),
  })
  .meta({ id: 'AdminLab' });

export const listQuery = z.strictObject({ ...paginationQuery });
export const idParams = z.object({ id: uuid });
export const memberParams = z.object({ id: uuid, userId: uuid });
