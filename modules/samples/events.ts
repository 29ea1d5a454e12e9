// The samples module's public contract: its events as zod schemas and TS types, with their
// schema versions. Events are business facts (a sample was registered, corrected, moved, changed
// status, discarded), never "updated". Every event names the owner, so read models and the audit
// trail can scope it without loading the stream.
//
// Stream: sample-<sampleId>.
import { z } from 'zod';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';
import { isoDate } from '../../platform/text.ts';

export const sampleTypes = ['blood', 'saliva', 'tissue'] as const;
export type SampleType = (typeof sampleTypes)[number];
export const sampleStatuses = ['collected', 'processing', 'archived'] as const;
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
  sampleType,
  subjectId: z.string().max(32),
  collectionDate: date,
  status,
  storageLocation: storage,
  notes,
  registeredAt: timestamp,
});

const change = <T extends z.ZodType>(value: T) => z.strictObject({ from: value, to: value });

export const sampleDetailsCorrectedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
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
  from: status,
  to: status,
  reason,
  changedAt: timestamp,
});

export const sampleMovedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  from: storage,
  to: storage,
  movedAt: timestamp,
});

export const sampleDiscardedSchema = z.strictObject({
  sampleId: id,
  ownerId: id,
  reason,
  discardedAt: timestamp,
});

export const sampleEventSchemas = {
  SampleRegistered: sampleRegisteredSchema,
  SampleDetailsCorrected: sampleDetailsCorrectedSchema,
  SampleStatusChanged: sampleStatusChangedSchema,
  SampleMoved: sampleMovedSchema,
  SampleDiscarded: sampleDiscardedSchema,
} as const;

export type SampleEventType = keyof typeof sampleEventSchemas;
const catalog = eventCatalog(sampleEventSchemas);
export const sampleEventTypes: SampleEventType[] = catalog.types;
export const sampleEventSchemaVersions: Readonly<Record<SampleEventType, number>> = {
  SampleRegistered: 1,
  SampleDetailsCorrected: 1,
  SampleStatusChanged: 1,
  SampleMoved: 1,
  SampleDiscarded: 1,
};

type Schemas = typeof sampleEventSchemas;
export type SampleEventData<T extends SampleEventType> = z.infer<Schemas[T]>;
export type SampleEvent = EventsOf<Schemas>;

export const isSampleEventType: (type: string) => type is SampleEventType = catalog.isType;

export const parseSampleEvent: (type: SampleEventType, data: unknown) => SampleEvent = catalog.parse;

export const sampleStream = (sampleId: string): string => `sample-${sampleId}`;
export const sampleIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith('sample-') ? streamId.slice('sample-'.length) : undefined;
