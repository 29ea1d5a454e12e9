// The samples module's public contract: its events as zod schemas and TS types, with their
// schema versions. Events are business facts (a sample was registered, corrected, moved, changed
// status, transferred to another lab, discarded), never "updated". Every event names the lab the
// sample belongs to (and who registered it, `ownerId`), so read models and the audit trail can
// scope it without loading the stream.
//
// Version 1 events (before labs) carry no labId: they are upcast on read to the registrant's
// personal lab, whose id is the registrant's id (upcastSampleEventV1), never rewritten.
//
// Stream: sample-<sampleId>.
import { z } from 'zod';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';
import { isoDate } from '../../platform/text.ts';
import { BARCODE_PATTERN } from './physical/barcode.ts';
import { quantitySchema } from './physical/quantity.ts';
import { lineages, physicalSampleTypes, physicalStatuses } from './physical/status.ts';

/** Primary types and the derivative ones (API.md, Physical samples). */
export const sampleTypes = physicalSampleTypes;
export type SampleType = (typeof sampleTypes)[number];
/** `consumed` and `disposed` are final. */
export const sampleStatuses = physicalStatuses;
export type SampleStatus = (typeof sampleStatuses)[number];

/** Fields a correction can change (status and storage have their own events). */
export const correctableFields = ['sampleType', 'subjectId', 'collectionDate', 'notes'] as const;
export type CorrectableField = (typeof correctableFields)[number];

const id = z.uuid();
const timestamp = z.iso.datetime();
/** A calendar date in the years 1900–9999: what the read models' date columns hold. */
const date = isoDate();
const sampleType = z.enum(sampleTypes);
const status = z.enum(sampleStatuses);
const storage = z.string().max(64).nullable();
const notes = z.string().max(2000).nullable();
const reason = z.string().max(500).nullable();

export const sampleRegisteredSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  sampleType,
  subjectId: z.string().max(32),
  collectionDate: date,
  status,
  storageLocation: storage,
  notes,
  registeredAt: timestamp,
  // Physical fields (optional: registrations from before them have none).
  barcode: z.string().regex(BARCODE_PATTERN).optional(),
  quantity: quantitySchema.nullable().optional(),
  lineage: z.enum(lineages).optional(),
  parentId: id.nullable().optional(),
});

const change = <T extends z.ZodType>(value: T) => z.strictObject({ from: value, to: value });

export const sampleDetailsCorrectedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  changes: z
    .strictObject({
      sampleType: change(sampleType).optional(),
      subjectId: change(z.string().max(32)).optional(),
      collectionDate: change(date).optional(),
      notes: change(notes).optional(),
    })
    .refine((c) => Object.keys(c).length > 0, 'a correction changes at least one field'),
  correctedAt: timestamp,
});

export const sampleStatusChangedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  from: status,
  to: status,
  reason,
  changedAt: timestamp,
});

export const sampleMovedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  from: storage,
  to: storage,
  movedAt: timestamp,
});

export const sampleDiscardedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  reason,
  discardedAt: timestamp,
});

/** Chain of custody: the sample moved to another lab, for a reason; its storage place is cleared. */
export const sampleTransferredSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  fromLabId: id,
  fromStorage: storage,
  reason: z.string().min(1).max(500),
  transferredAt: timestamp,
});

const place = z.strictObject({ unitId: id, position: z.string().regex(/^[A-Z][1-9][0-9]?$/) });
export const placeReasons = ['unplaced', 'final', 'transferred'] as const;

/** The sample took a slot of a box (after the box recorded the claim); `from` is the slot it left. */
export const samplePlacedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  unitId: id,
  position: place.shape.position,
  from: place.nullable(),
  placedAt: timestamp,
});

/** The sample left its slot (before the box frees it). */
export const sampleUnplacedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  unitId: id,
  position: place.shape.position,
  reason: z.enum(placeReasons),
  unplacedAt: timestamp,
});

/** A freeze–thaw cycle: the count after it. */
export const sampleThawedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  freezeThawCount: z.number().int().positive(),
  thawedAt: timestamp,
});

/**
 * Reserves a barcode within a lab: appended with "no stream" to barcode-<labId>-<BARCODE>
 * (barcodeReservationStreamId), so two tubes of one lab never share a barcode, whatever the case.
 */
export const sampleBarcodeReservedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  barcode: z.string().regex(BARCODE_PATTERN),
  reservedAt: timestamp,
});

const amount = quantitySchema.nullable();
const newChild = z.strictObject({ sampleId: id, barcode: z.string().regex(BARCODE_PATTERN), quantity: amount });
/** The request under an Idempotency-Key that took it (a hash): its repeat finds this event, even after a crash. */
const requestKey = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .optional();

/**
 * Aliquots taken from the sample: the parent's amount and the children it announces, in one event,
 * so the children can be (re)created from it alone after a crash between the two steps.
 */
export const sampleAliquotedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  children: z.array(newChild).min(1).max(100),
  taken: amount,
  remaining: amount,
  aliquotedAt: timestamp,
  requestKey,
});

export const sampleDerivedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  labId: id,
  child: newChild.extend({ sampleType }),
  taken: amount,
  remaining: amount,
  derivedAt: timestamp,
  requestKey,
});

/** Nothing is left: set with the aliquot or derivative that took the last of it. Final. */
export const sampleConsumedSchema = z.strictObject({ sampleId: id, ownerId: id, labId: id, consumedAt: timestamp });

export const sampleEventSchemas = {
  SampleRegistered: sampleRegisteredSchema,
  SampleDetailsCorrected: sampleDetailsCorrectedSchema,
  SampleStatusChanged: sampleStatusChangedSchema,
  SampleMoved: sampleMovedSchema,
  SampleDiscarded: sampleDiscardedSchema,
  SampleTransferred: sampleTransferredSchema,
  SamplePlaced: samplePlacedSchema,
  SampleUnplaced: sampleUnplacedSchema,
  SampleThawed: sampleThawedSchema,
  SampleBarcodeReserved: sampleBarcodeReservedSchema,
  SampleAliquoted: sampleAliquotedSchema,
  SampleDerived: sampleDerivedSchema,
  SampleConsumed: sampleConsumedSchema,
} as const;

export type SampleEventType = keyof typeof sampleEventSchemas;
const catalog = eventCatalog(sampleEventSchemas);
export const sampleEventTypes: SampleEventType[] = catalog.types;
export const sampleEventSchemaVersions: Readonly<Record<SampleEventType, number>> = {
  SampleRegistered: 2,
  SampleDetailsCorrected: 2,
  SampleStatusChanged: 2,
  SampleMoved: 2,
  SampleDiscarded: 2,
  SampleTransferred: 1,
  SamplePlaced: 1,
  SampleUnplaced: 1,
  SampleThawed: 1,
  SampleBarcodeReserved: 1,
  SampleAliquoted: 1,
  SampleDerived: 1,
  SampleConsumed: 1,
};

/** The types whose version 1 (before labs) lacks labId. */
export const sampleTypesBeforeLabs = [
  'SampleRegistered',
  'SampleDetailsCorrected',
  'SampleStatusChanged',
  'SampleMoved',
  'SampleDiscarded',
] as const;

/** Version 1 → 2: a sample from before labs belongs to its registrant's personal lab (same id). */
export function upcastSampleEventV1(data: Record<string, unknown>): Record<string, unknown> {
  return typeof data.ownerId === 'string' && data.labId === undefined ? { ...data, labId: data.ownerId } : data;
}

type Schemas = typeof sampleEventSchemas;
export type SampleEventData<T extends SampleEventType> = z.infer<Schemas[T]>;
export type SampleEvent = EventsOf<Schemas>;

export const isSampleEventType: (type: string) => type is SampleEventType = catalog.isType;

export const parseSampleEvent: (type: SampleEventType, data: unknown) => SampleEvent = catalog.parse;

export const sampleStream = (sampleId: string): string => `sample-${sampleId}`;
export const sampleIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith('sample-') ? streamId.slice('sample-'.length) : undefined;

// What the samples read model needs of the physical-sample rules (projections read modules through events.ts).
export { normaliseBarcode } from './physical/barcode.ts';
export type { Quantity } from './physical/quantity.ts';
