// The imports module's HTTP contract as zod schemas (API.md, Imports and bulk changes).
import { z } from 'zod';
import { IMPORT_COLUMNS, rowErrorCodes } from './columns.ts';
import { importModes, importStatuses } from './events.ts';

const uuid = z.uuid().overwrite((id) => id.toLowerCase());
const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

export const submitQuery = z.strictObject({
  labId: uuid,
  dryRun: flag.optional().meta({ description: 'true: validate only, create nothing' }),
  mode: z
    .enum(importModes)
    .optional()
    .meta({ description: 'atomic (default): one refused row and nothing is created' }),
  allowDuplicate: flag.optional().meta({ description: 'true: import a file this lab was given already' }),
});

export const listQuery = z.strictObject({
  labId: uuid,
  limit: z.coerce.number().int().min(1).max(100).optional(),
});

export const idParams = z.strictObject({ id: uuid });

export const submittedSchema = z.object({ id: z.uuid(), status: z.enum(importStatuses) });

const rowError = z.object({
  row: z.number().int(),
  column: z.enum(IMPORT_COLUMNS).nullable(),
  code: z.enum(rowErrorCodes),
  message: z.string(),
});

export const importSchema = z.object({
  id: z.uuid(),
  labId: z.uuid(),
  status: z.enum(importStatuses),
  dryRun: z.boolean(),
  mode: z.enum(importModes),
  rows: z.number().int().nullable(),
  validRows: z.number().int().nullable(),
  invalidRows: z.number().int().nullable(),
  created: z.number().int(),
  progress: z.number().min(0).max(1),
  errors: z.array(rowError).meta({ description: 'The first 100; errors.csv has every refused row' }),
  sha256: z.string(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});

export const importListSchema = z.object({
  items: z.array(
    importSchema.pick({
      id: true,
      labId: true,
      status: true,
      dryRun: true,
      mode: true,
      rows: true,
      created: true,
      sha256: true,
      startedAt: true,
      finishedAt: true,
    }),
  ),
});
