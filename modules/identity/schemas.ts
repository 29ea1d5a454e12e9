// The identity module's HTTP contract as zod schemas (API.md, Identity): what the routes validate
// and what the OpenAPI document shows.
import { z } from 'zod';
import { paginationQuery } from '../../platform/http/pagination.ts';
import { roles } from './events.ts';
import { passwordLength, usernameLength } from './rules.ts';

const reason = z
  .string()
  .max(500)
  .optional()
  .meta({ description: 'Change reason (stored in the event metadata); X-Change-Reason wins' });

export const registerBody = z.strictObject({
  username: z
    .string()
    .max(256)
    .meta({
      description: `${usernameLength.min}–${usernameLength.max} of [a-zA-Z0-9_.-], not reserved; unique, case-insensitive`,
      example: 'dr.lee',
    }),
  email: z.string().max(320).meta({ description: 'Unique, case-insensitive', example: 'lee@lab.example' }),
  password: z
    .string()
    .max(1024)
    .meta({ description: `≥ ${passwordLength.min} characters, not containing the username, not a common password` }),
});
export const userSchema = z
  .object({ id: z.uuid(), username: z.string(), email: z.string(), role: z.enum(roles), createdAt: z.iso.datetime() })
  .meta({ id: 'RegisteredUser' });
export const meSchema = userSchema.extend({ isActive: z.boolean() }).meta({ id: 'Me' });
export const adminUserSchema = meSchema
  .extend({ status: z.enum(['active', 'inactive', 'erased']), lastLoginAt: z.iso.datetime().nullable() })
  .meta({ id: 'AdminUser' });

export const loginBody = z.strictObject({
  login: z.string().min(1).max(320).meta({ description: 'Username or email' }),
  password: z.string().min(1).max(1024),
});
export const tokenPairSchema = z
  .object({
    accessToken: z.string().meta({ description: 'JWT for Authorization: Bearer' }),
    refreshToken: z.string().meta({ description: 'Opaque; single use: each refresh returns a new one' }),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().meta({ description: 'Seconds until the access token expires' }),
  })
  .meta({ id: 'TokenPair' });
export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(256) });

export const passwordBody = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().max(1024),
  reason,
});
export const eraseMeBody = z.strictObject({ password: z.string().min(1).max(1024), reason });

export const apiKeyBody = z.strictObject({
  name: z.string().max(256).meta({ description: '1–100 characters', example: 'LIMS import' }),
  reason,
});
export const createdApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    key: z.string().meta({ description: 'Shown only in this answer: send it as X-API-Key' }),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'CreatedApiKey' });
export const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().meta({ description: 'The non-secret start of the key, to recognise it' }),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable().meta({ description: 'First use on the most recent day the key was used' }),
    revokedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiKey' });

export const listQuery = z.strictObject({ ...paginationQuery });
export const idParams = z.object({ id: z.uuid() });
export const adminActionBody = z.strictObject({ reason });
