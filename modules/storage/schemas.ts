// The storage module's HTTP contract as zod schemas (API.md, Storage): what the routes validate
// and what the OpenAPI document shows.
import { z } from 'zod';
import { paginationQuery } from '../../platform/http/pagination.ts';
import {
  MAX_GRID_COLUMNS,
  MAX_GRID_ROWS,
  MAX_TEMPERATURE_C,
  MAX_UNIT_NAME_LENGTH,
  MIN_TEMPERATURE_C,
  unitKinds,
} from './events.ts';

const uuid = z.uuid().overwrite((id) => id.toLowerCase());
const kind = z.enum(unitKinds).meta({
  description: 'freezer, refrigerator, cabinet (top level); rack, shelf (inside those); box (inside any of them)',
});
const name = z.string().max(MAX_UNIT_NAME_LENGTH).meta({ description: '1–100 characters', example: 'Box 7' });
const temperatureC = z
  .number()
  .min(MIN_TEMPERATURE_C)
  .max(MAX_TEMPERATURE_C)
  .meta({ description: 'Storage temperature in °C', example: -80 });
const grid = z
  .strictObject({
    rows: z.number().int().min(1).max(MAX_GRID_ROWS).meta({ description: 'Rows A–Z: 1–26' }),
    columns: z.number().int().min(1).max(MAX_GRID_COLUMNS).meta({ description: 'Columns 1–30' }),
  })
  .meta({ description: 'Boxes only', example: { rows: 8, columns: 12 } });

export const createBody = z.strictObject({
  labId: uuid,
  name,
  kind,
  parentId: uuid.optional().meta({ description: 'Absent for a top-level unit' }),
  grid: grid.optional(),
  temperatureC: temperatureC.optional(),
  reason: z.string().max(500).optional(),
});

export const patchBody = z
  .strictObject({
    name: name.optional(),
    temperatureC: temperatureC.nullable().optional(),
    reason: z.string().max(500).optional(),
  })
  .refine((b) => b.name !== undefined || b.temperatureC !== undefined, {
    message: 'send a name or a temperatureC to change',
  });

export const moveBody = z.strictObject({ parentId: uuid, reason: z.string().max(500).optional() });

export const unitSchema = z
  .object({
    id: z.uuid(),
    labId: z.uuid(),
    name: z.string(),
    kind,
    parentId: z.uuid().nullable(),
    path: z.string().meta({ example: 'Freezer A / Rack 2 / Box 7' }),
    grid: z.object({ rows: z.number().int(), columns: z.number().int() }).nullable(),
    temperatureC: z.number().nullable(),
    capacity: z.number().int().meta({ description: 'Slots of a box (rows × columns); 0 for other units' }),
    occupied: z.number().int().meta({ description: 'Slots holding a sample' }),
    createdAt: z.iso.datetime(),
    version: z.number().int().meta({ description: "Events in the unit's stream" }),
  })
  .meta({ id: 'StorageUnit' });

export const listQuery = z.strictObject({
  ...paginationQuery,
  labId: uuid.optional().meta({ description: "One of the caller's labs; all of them when absent" }),
  parentId: uuid.optional().meta({ description: 'Units directly inside this one; top-level units when absent' }),
  kind: kind.optional(),
});
export const cursorSchema = z.object({ name: z.string(), id: z.uuid() });

export const idParams = z.object({ id: uuid });

export const mapQuery = z.strictObject({
  format: z.enum(['json', 'svg']).default('json').meta({ description: 'svg: a printable picture of the box' }),
});

const mapSample = z.object({
  id: z.uuid(),
  barcode: z.string().nullable(),
  sampleType: z.string(),
  subjectId: z.string(),
  status: z.string(),
});
export const mapSchema = z
  .object({
    rows: z.number().int(),
    columns: z.number().int(),
    positions: z.array(z.object({ position: z.string(), sample: mapSample.nullable() })),
  })
  .meta({ id: 'BoxMap' });

export const freeQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(780).optional().meta({ description: 'At most this many (1–780)' }),
});
export const freeSchema = z.object({ items: z.array(z.string()) }).meta({ id: 'FreePositions' });
