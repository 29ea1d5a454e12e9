// Request shapes of the physical-sample routes (API.md, Physical samples), ready for the
// RouteGroup declarations once the routes are wired.
import { z } from 'zod';
import { BARCODE_PATTERN } from './barcode.ts';
import { labelFormats, symbologies } from './labels.ts';
import { quantitySchema } from './quantity.ts';
import { physicalSampleTypes } from './status.ts';
import { MAX_ALIQUOTS } from './decide.ts';
import { SUBJECT_ID_PATTERN } from '../rules.ts';

export const MAX_LABELS_PER_BATCH = 200;

export const barcodeSchema = z
  .string()
  .regex(BARCODE_PATTERN, 'must be 1–64 of letters, digits, dot, underscore and hyphen')
  .meta({ example: 'VL-3F9K2M7QXA' });

export const aliquotsBodySchema = z.strictObject({
  count: z.number().int().min(1).max(MAX_ALIQUOTS),
  quantity: quantitySchema.optional().describe("each child's amount, taken from the parent's remaining"),
});

export const derivativeBodySchema = z.strictObject({
  sampleType: z.enum(physicalSampleTypes),
  quantity: quantitySchema.optional().describe("the derivative's own amount"),
  consumes: quantitySchema.optional().describe("what making it takes from the parent's remaining"),
});

export const disposeBodySchema = z.strictObject({ reason: z.string().trim().min(1).max(500) });

export const labelQuerySchema = z.strictObject({
  format: z.enum(labelFormats).default('svg'),
  symbology: z.enum(symbologies).default('code128'),
});

export const labelsBodySchema = z.strictObject({
  ids: z.array(z.uuid()).min(1).max(MAX_LABELS_PER_BATCH),
});

export const specimenSearchQuerySchema = z.strictObject({
  subject: z.string().regex(SUBJECT_ID_PATTERN, 'a subject id such as P001'),
});
