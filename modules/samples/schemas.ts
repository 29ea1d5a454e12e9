// The samples module's HTTP contract as zod schemas (API.md, Samples): what the routes validate
// and what the OpenAPI document shows.
import { z } from 'zod';
import { paginationQuery } from '../../platform/http/pagination.ts';
import { isoDate } from '../../platform/text.ts';
import { sampleStatuses, sampleTypes } from './events.ts';
import { MAX_NOTES_LENGTH } from './rules.ts';
import { barcodeSchema } from './physical/schemas.ts';
import { quantitySchema } from './physical/quantity.ts';
import { lineages } from './physical/status.ts';

const sampleType = z.enum(sampleTypes).meta({ description: sampleTypes.join(' | ') });
const status = z
  .enum(sampleStatuses)
  .meta({ description: `${sampleStatuses.join(' | ')}; consumed and disposed are final (disposed needs a reason)` });
const quantity = quantitySchema.meta({
  id: 'Quantity',
  description: '{ value > 0, unit: mL | uL | g | mg | ug | cells }',
});
const subjectId = z.string().max(32).meta({ description: 'One capital letter and 3+ digits', example: 'P001' });
const collectionDate = z
  .string()
  .max(10)
  .meta({ description: 'YYYY-MM-DD; not in the future, not older than 10 years', example: '2026-11-02' });
const storageLocation = z
  .string()
  .max(64)
  .nullable()
  .meta({ description: 'freezer-<n>-row<X> or shelf-<n>; required (a freezer) for tissue', example: 'freezer-3-rowB' });
const notes = z.string().max(MAX_NOTES_LENGTH).nullable();
const reason = z
  .string()
  .max(500)
  .optional()
  .meta({ description: 'Why (stored in the event metadata and history); X-Change-Reason wins' });

const labId = z
  .uuid()
  .overwrite((id) => id.toLowerCase())
  .meta({ description: "One of the caller's labs" });
const labFilter = labId.optional().meta({ description: "Only this lab (one of the caller's); absent: all of them" });

export const createBody = z.strictObject({
  labId: labId.optional().meta({ description: "Default: the caller's personal lab; technician or above" }),
  sampleType,
  subjectId,
  collectionDate,
  status: status.optional().meta({ description: 'Defaults to collected' }),
  storageLocation: storageLocation.optional(),
  notes: notes.optional(),
  barcode: barcodeSchema
    .optional()
    .meta({ description: 'Unique in the lab, case-insensitive (409 barcode_taken); absent: assigned (Code 128)' }),
  quantity: quantity.nullable().optional().meta({ description: 'The amount collected; remaining starts at it' }),
  reason,
});
export const patchBody = z
  .strictObject({
    sampleType: sampleType.optional(),
    subjectId: subjectId.optional(),
    collectionDate: collectionDate.optional(),
    status: status.optional(),
    storageLocation: storageLocation.optional(),
    notes: notes.optional(),
    reason,
  })
  .refine((b) => Object.keys(b).some((k) => k !== 'reason'), { message: 'send at least one field to change' });
export const putBody = z.strictObject({
  sampleType,
  subjectId,
  collectionDate,
  status,
  storageLocation: storageLocation.optional().meta({ description: 'Absent means none' }),
  notes: notes.optional().meta({ description: 'Absent means none' }),
  reason,
});
export const deleteBody = z.strictObject({ reason });
export const transferBody = z.strictObject({
  labId: labId.meta({ description: 'The lab the sample goes to (technician or above there too)' }),
  reason: z
    .string()
    .max(500)
    .meta({ description: 'Why (chain of custody; required, here or in X-Change-Reason)' })
    .optional(),
});

export const sampleSchema = z
  .object({
    id: z.uuid(),
    labId: z.uuid().meta({ description: 'The lab the sample belongs to' }),
    sampleType,
    subjectId: z.string(),
    collectionDate: z.iso.date(),
    status,
    storageLocation: z.string().nullable(),
    notes: z.string().nullable(),
    barcode: z.string().nullable().meta({ description: 'Null only for samples registered before barcodes' }),
    quantity: quantity.nullable(),
    remaining: quantity.nullable().meta({ description: 'Goes down as aliquots and derivatives are taken' }),
    lineage: z.enum(lineages),
    parentId: z.uuid().nullable(),
    freezeThawCount: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    version: z.number().int().meta({ description: "Events in the sample's stream; the ETag" }),
  })
  .meta({ id: 'Sample' });

/** Where a sample is placed: its box, position and the box's path, as the storage side answers it. */
export const locationSchema = z
  .object({
    unitId: z.uuid(),
    position: z.string().meta({ example: 'A1' }),
    path: z.string().meta({ example: 'Freezer A / Rack 2 / Box 7' }),
  })
  .meta({ id: 'SampleLocation' });

/** A sample as reads (and a placement) answer it: with its place in a box, null without one. */
export const placedSampleSchema = sampleSchema
  .extend({
    location: locationSchema
      .nullable()
      .meta({ description: 'Its slot in a box; null when it has none (storageLocation may still say where it is)' }),
  })
  .meta({ id: 'PlacedSample' });

export const listQuery = z.strictObject({
  ...paginationQuery,
  labId: labFilter,
  status: status.optional(),
  sampleType: sampleType.optional(),
  subjectId: z.string().max(32).optional(),
  collectedFrom: isoDate().optional().meta({ description: 'Inclusive; 1900–9999' }),
  collectedTo: isoDate().optional().meta({ description: 'Inclusive; 1900–9999' }),
  unitId: z
    .uuid()
    .overwrite((id) => id.toLowerCase())
    .optional()
    .meta({ description: 'Samples placed in this storage unit or anywhere below it' }),
});
export const subjectQuery = z.strictObject({
  ...paginationQuery,
  labId: labFilter,
  status: status.optional(),
  sampleType: sampleType.optional(),
  collectedFrom: isoDate().optional(),
  collectedTo: isoDate().optional(),
});
export const overviewQuery = z.strictObject({ labId: labFilter });
export const cursorSchema = z.object({ collectionDate: isoDate(), id: z.uuid() });
export const overviewSchema = z
  .object({
    total: z.number().int(),
    byStatus: z.object(Object.fromEntries(sampleStatuses.map((k) => [k, z.number().int()]))),
    byType: z.object(Object.fromEntries(sampleTypes.map((k) => [k, z.number().int()]))),
    collectedLast30Days: z
      .number()
      .int()
      .meta({ description: 'Samples whose collection date is within the 30 days ending today (UTC)' }),
  })
  .meta({ id: 'SampleOverview' });
export const historySchema = z
  .object({
    items: z.array(
      z.object({
        version: z.number().int(),
        type: z.string(),
        occurredAt: z.iso.datetime(),
        actor: z.object({ id: z.string().nullable(), username: z.string().nullable() }),
        requestId: z.string().nullable(),
        reason: z.string().nullable(),
        changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
      }),
    ),
  })
  .meta({ id: 'SampleHistory' });

export const barcodeParams = z.object({ barcode: barcodeSchema });

export const idParams = z.object({ id: z.uuid().overwrite((id) => id.toLowerCase()) });
export const subjectParams = z.object({
  subjectId: z.string().max(32).meta({ description: 'One capital letter and 3+ digits' }),
});

export const aliquotsSchema = z
  .object({ parent: sampleSchema, items: z.array(sampleSchema) })
  .meta({ id: 'SampleAliquots' });

const lineageNode: z.ZodType<{ sample: unknown; children: unknown[] }> = z.lazy(() =>
  z.object({ sample: sampleSchema, children: z.array(lineageNode) }),
);
export const lineageSchema = z
  .object({
    ancestors: z.array(sampleSchema).meta({ description: 'Root first' }),
    descendants: z.array(lineageNode),
  })
  .meta({ id: 'SampleLineage' });
