// The imports module's public contract: the events of an import job, as zod schemas and types.
// An import is a job with its own stream; what it creates are samples, whose events carry the
// import id as correlation id — that, not this stream, is the truth of how many it created.
//
// Stream: import-<importId>.
import { z } from 'zod';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';
import { IMPORT_COLUMNS, rowErrorCodes } from './columns.ts';

export const importModes = ['atomic', 'best-effort'] as const;
export type ImportMode = (typeof importModes)[number];
export const importStatuses = ['validating', 'validated', 'importing', 'completed', 'failed', 'cancelled'] as const;
export type ImportStatus = (typeof importStatuses)[number];
/** Where a job ends; a dry run also ends at `validated`. */
export const finalImportStatuses: ReadonlySet<ImportStatus> = new Set(['completed', 'failed', 'cancelled']);

const id = z.uuid();
const timestamp = z.iso.datetime();
const count = z.number().int().min(0);
const rowError = z.strictObject({
  row: z.number().int().min(2),
  column: z.enum(IMPORT_COLUMNS).nullable(),
  code: z.enum(rowErrorCodes),
  message: z.string().max(500),
});

export const importEventSchemas = {
  ImportSubmitted: z.strictObject({
    importId: id,
    labId: id,
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: count,
    mode: z.enum(importModes),
    dryRun: z.boolean(),
    allowDuplicate: z.boolean(),
    submittedAt: timestamp,
  }),
  ImportValidated: z.strictObject({
    importId: id,
    rows: count,
    validRows: count,
    invalidRows: count,
    errors: z.array(rowError).max(100),
    validatedAt: timestamp,
  }),
  ImportStarted: z.strictObject({ importId: id, startedAt: timestamp }),
  ImportProgressed: z.strictObject({
    importId: id,
    processed: count,
    created: count,
    refused: count,
    /** The last row dealt with: a resumed import goes on after it. */
    lastRow: count,
    at: timestamp,
  }),
  ImportResumed: z.strictObject({ importId: id, created: count, resumedAt: timestamp }),
  ImportCancelRequested: z.strictObject({ importId: id, requestedAt: timestamp }),
  ImportCompleted: z.strictObject({ importId: id, created: count, refused: count, completedAt: timestamp }),
  ImportFailed: z.strictObject({
    importId: id,
    created: count,
    code: z.enum(['rows_refused', 'interrupted', 'file_unreadable', 'row_refused']),
    message: z.string().max(500),
    failedAt: timestamp,
  }),
  ImportCancelled: z.strictObject({ importId: id, created: count, cancelledAt: timestamp }),
} as const;

export type ImportEventType = keyof typeof importEventSchemas;
export type ImportFailureCode = z.infer<typeof importEventSchemas.ImportFailed>['code'];
const catalog = eventCatalog(importEventSchemas);
export const importEventTypes: ImportEventType[] = catalog.types;
export const importEventSchemaVersions: Readonly<Record<ImportEventType, number>> = Object.fromEntries(
  catalog.types.map((type) => [type, 1]),
) as Record<ImportEventType, number>;

export type ImportEvent = EventsOf<typeof importEventSchemas>;
export const isImportEventType: (type: string) => type is ImportEventType = catalog.isType;
export const parseImportEvent: (type: ImportEventType, data: unknown) => ImportEvent = catalog.parse;

export const importStream = (importId: string): string => `import-${importId}`;
export const importIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith('import-') ? streamId.slice('import-'.length) : undefined;
