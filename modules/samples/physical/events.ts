// Events of physical samples, proposed for modules/samples/events.ts once labs have landed
// (stream sample-<sampleId>). A parent's aliquot/derivative event carries everything its
// children's registrations need, so children can be (re)created from it alone after a crash.
import { z } from 'zod';
import { quantitySchema } from './quantity.ts';
import { BARCODE_PATTERN } from './barcode.ts';
import { lineages, physicalSampleTypes, physicalStatuses } from './status.ts';

const id = z.uuid();
const timestamp = z.iso.datetime();
const date = z.iso.date();
const amount = quantitySchema.nullable();
const barcode = z.string().regex(BARCODE_PATTERN);
const sampleType = z.enum(physicalSampleTypes);

/** The physical fields of a registration (the wiring adds them to SampleRegistered). */
export const physicalRegistrationSchema = z.strictObject({
  sampleId: id,
  labId: id,
  barcode,
  sampleType,
  subjectId: z.string().max(32),
  collectionDate: date,
  status: z.enum(physicalStatuses),
  quantity: amount,
  remaining: amount,
  lineage: z.enum(lineages),
  parentId: id.nullable(),
  registeredAt: timestamp,
});

const child = z.strictObject({ sampleId: id, barcode, quantity: amount });

export const sampleAliquotedSchema = z.strictObject({
  sampleId: id,
  labId: id,
  children: z.array(child).min(1).max(100),
  /** What came out of the parent (null: the parent's amount is not tracked, or none was given). */
  taken: amount,
  remaining: amount,
  aliquotedAt: timestamp,
});

export const sampleDerivedSchema = z.strictObject({
  sampleId: id,
  labId: id,
  child: child.extend({ sampleType }),
  taken: amount,
  remaining: amount,
  derivedAt: timestamp,
});

export const sampleConsumedSchema = z.strictObject({ sampleId: id, labId: id, consumedAt: timestamp });
export const sampleDisposedSchema = z.strictObject({
  sampleId: id,
  labId: id,
  reason: z.string().min(1).max(500),
  disposedAt: timestamp,
});
export const sampleThawedSchema = z.strictObject({
  sampleId: id,
  labId: id,
  freezeThawCount: z.number().int().positive(),
  thawedAt: timestamp,
});

export type PhysicalRegistration = z.infer<typeof physicalRegistrationSchema>;
export type PhysicalEvent =
  | { readonly type: 'SampleRegistered'; readonly data: PhysicalRegistration }
  | { readonly type: 'SampleAliquoted'; readonly data: z.infer<typeof sampleAliquotedSchema> }
  | { readonly type: 'SampleDerived'; readonly data: z.infer<typeof sampleDerivedSchema> }
  | { readonly type: 'SampleConsumed'; readonly data: z.infer<typeof sampleConsumedSchema> }
  | { readonly type: 'SampleDisposed'; readonly data: z.infer<typeof sampleDisposedSchema> }
  | { readonly type: 'SampleThawed'; readonly data: z.infer<typeof sampleThawedSchema> };

export const physicalEventSchemas = {
  SampleRegistered: physicalRegistrationSchema,
  SampleAliquoted: sampleAliquotedSchema,
  SampleDerived: sampleDerivedSchema,
  SampleConsumed: sampleConsumedSchema,
  SampleDisposed: sampleDisposedSchema,
  SampleThawed: sampleThawedSchema,
} as const;
