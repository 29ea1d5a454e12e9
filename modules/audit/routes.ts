// The audit trail over HTTP (API.md, "Audit and projections"): list, export, verify. A user sees
// the events of their own streams, an admin all; secrets never appear (redacted by the audit
// projection). Export streams page by page with backpressure: constant memory, whatever the size.
import { PassThrough } from 'node:stream';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, paginationQuery, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import { stateOf, type AppContext, type AppRouter, type AuthState } from '../../platform/http/state.ts';
import { isoDateTime } from '../../platform/text.ts';
import { labRoleOf, listAudit, type AuditItem, type AuditScope } from './queries.ts';
import { verifyAll, verifyOwner } from './verify.ts';
import { ERASED, type PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { sealedFields as dialogSealedFields } from '../dialog/events.ts';
import { sealedFields as identitySealedFields } from '../identity/events.ts';

/** Per event type, the fields holding personal data that new events seal with the owner's key. */
const personalFields: ReadonlyMap<string, readonly string[]> = new Map(
  [...Object.entries(identitySealedFields), ...Object.entries(dialogSealedFields)].filter(([, f]) => f.length > 0),
);

const filterQuery = {
  streamId: z.string().max(200).optional(),
  type: z.string().max(100).optional(),
  actorId: z.string().max(100).optional(),
  from: isoDateTime().optional().meta({ description: 'occurredAt ≥ (inclusive); years 1900–9999' }),
  to: isoDateTime().optional().meta({ description: 'occurredAt ≤ (inclusive); years 1900–9999' }),
  labId: z.uuid().optional().meta({
    description: "A lab's trail (its stream, its samples' events): for its managers; 404 non-member, 403 below",
  }),
};
const listQuery = z.strictObject({ ...paginationQuery, ...filterQuery });
const exportQuery = z.strictObject({ format: z.enum(['ndjson', 'csv']).default('ndjson'), ...filterQuery });
// The position's columns: commit numeric(20,0), prepare bigint. A cursor beyond them is not ours.
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const cursorSchema = z.object({
  commit: z.string().regex(/^-?\d{1,20}$/),
  prepare: z
    .string()
    .regex(/^-?\d{1,19}$/)
    .refine((p) => BigInt(p) >= INT64.min && BigInt(p) <= INT64.max),
});

const auditItemSchema = z
  .object({
    position: z.string(),
    streamId: z.string(),
    type: z.string(),
    occurredAt: z.iso.datetime(),
    actor: z.object({ id: z.string().nullable(), type: z.string() }),
    requestId: z.string().nullable(),
    correlationId: z.string().nullable(),
    reason: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'AuditEvent' });

const scopeOf = (auth: AuthState): Exclude<AuditScope, { kind: 'lab' }> =>
  auth.role === 'admin' ? { kind: 'admin' } : { kind: 'owner', ownerId: auth.userId };

/** With ?labId=, the lab's trail, for its managers (and administrators); otherwise as scopeOf. */
async function listScopeOf(auth: AuthState, knex: Knex, labId: string | undefined): Promise<AuditScope> {
  const scope = scopeOf(auth);
  if (labId === undefined) return scope;
  if (scope.kind === 'owner') {
    const role = await labRoleOf(knex, labId.toLowerCase(), scope.ownerId);
    if (role === undefined) throw new HttpProblem(404, 'not_found', 'Lab not found.');
    if (role !== 'manager') throw new HttpProblem(403, 'forbidden', "A lab's audit trail is for its managers.");
  }
  return { kind: 'lab', labId: labId.toLowerCase() };
}

/** The keyset cursor after an item: its position's two parts. */
const cursorAfter = (item: AuditItem) => {
  const [commit, prepare] = item.position.split('/') as [string, string];
  return { commit, prepare };
};

/** The audit routes of both files (trail and digests) under one tag. */
export const auditTag = {
  tag: 'audit',
  description: 'The audit trail: every change, attributable, time-stamped, with reason; export; tamper evidence',
};

export interface AuditRouteOptions {
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  readonly vault: PersonalDataVault;
}

type Readable = (items: readonly AuditItem[]) => Promise<AuditItem[]>;

const CSV_COLUMNS = [
  'position',
  'streamId',
  'type',
  'occurredAt',
  'actorId',
  'actorType',
  'requestId',
  'correlationId',
  'reason',
  'data',
] as const;

/** One CSV cell: quoted when needed; a leading = + - @ is defused so a spreadsheet never runs it. */
export function csvCell(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

const csvLine = (item: AuditItem) =>
  [
    item.position,
    item.streamId,
    item.type,
    item.occurredAt,
    item.actor.id,
    item.actor.type,
    item.requestId,
    item.correlationId,
    item.reason,
    JSON.stringify(item.data),
  ]
    .map(csvCell)
    .join(',') + '\r\n';

/**
 * Sealed personal data is shown opened, or "[erased]" once its owner was erased. Events stored
 * before a field was sealed hold it in plain text, and an event cannot be rewritten: once the
 * owner is erased, those fields are shown as "[erased]" too. One key lookup per owner and page.
 */
function readableWith(vault: PersonalDataVault): Readable {
  return async (items) => {
    const keys = vault.scope();
    return Promise.all(
      items.map(async (item) => {
        const owner = item.data.ownerId ?? item.data.userId;
        const subject = typeof owner === 'string' ? owner : null;
        const data = await keys.openFields(subject, item.data);
        const fields = personalFields.get(item.type);
        if (fields && subject && (await keys.erased(subject))) {
          for (const f of fields) if (typeof data[f] === 'string') data[f] = ERASED;
        }
        return { ...item, data };
      }),
    );
  };
}

export function auditRouters(options: AuditRouteOptions): AppRouter[] {
  const { knex } = options;
  const readable = readableWith(options.vault);
  const routes = new RouteGroup(options.openapi, auditTag);
  routes.add({
    method: 'get',
    path: '/api/v1/audit',
    summary: 'Events, oldest first: your own streams, or all for an admin',
    query: listQuery,
    responses: { 200: { description: 'A page', schema: pageSchema(auditItemSchema) } },
    handler: async (ctx, { auth, query }) => {
      const after = decodeCursor(query.cursor, cursorSchema);
      const scope = await listScopeOf(auth, knex, query.labId);
      const { rows, total } = await listAudit(knex, scope, query, { limit: query.limit, after });
      ctx.body = toPage(await readable(rows), query.limit, total, cursorAfter);
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/audit/export',
    summary: 'The same events as a download: NDJSON or CSV, streamed',
    query: exportQuery,
    responses: {
      200: {
        description:
          "One event per line (NDJSON) or per row (CSV, header first; cells starting with = + - @ are prefixed with ')",
        content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
      },
    },
    handler: async (ctx, { auth, query: { format, ...filter } }) => {
      const scope = await listScopeOf(auth, knex, filter.labId);
      streamExport(
        ctx,
        format,
        (after) => listAudit(knex, scope, filter, { limit: 1000, after, withTotal: false }),
        readable,
      );
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/audit/verify',
    summary: 'Recompute the hash chains: your own streams, or the whole log for an admin',
    responses: {
      200: {
        description: 'The result',
        schema: z
          .object({ ok: z.boolean(), checkedEvents: z.number().int(), firstBrokenPosition: z.string().nullable() })
          .meta({ id: 'AuditVerification' }),
      },
    },
    handler: async (ctx, { auth }) => {
      const scope = scopeOf(auth);
      ctx.body = scope.kind === 'admin' ? await verifyAll(knex) : await verifyOwner(knex, scope.ownerId);
    },
  });
  return [routes.router];
}

type AuditPage = (after: { commit: string; prepare: string } | undefined) => Promise<{ rows: AuditItem[] }>;

/** The export, page by page with backpressure: constant memory, whatever the size. */
function streamExport(ctx: AppContext, format: 'ndjson' | 'csv', pageAfter: AuditPage, readable: Readable): void {
  const stream = new PassThrough({ highWaterMark: 64 * 1024 });
  ctx.status = 200;
  ctx.type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson';
  ctx.set('Content-Disposition', `attachment; filename="vialog-audit.${format}"`);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = stream;
  const log = stateOf(ctx).log;
  let gone = false;
  ctx.res.once('close', () => {
    gone = true;
  });
  const write = async (chunk: string) => {
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  };
  void (async () => {
    try {
      if (format === 'csv') await write(CSV_COLUMNS.join(',') + '\r\n');
      let after: { commit: string; prepare: string } | undefined;
      for (;;) {
        if (gone) return;
        const { rows } = await pageAfter(after);
        const page = await readable(rows.slice(0, 1000));
        for (const item of page) await write(format === 'csv' ? csvLine(item) : `${JSON.stringify(item)}\n`);
        if (rows.length <= 1000) break;
        after = cursorAfter(page.at(-1)!);
      }
    } catch (error) {
      log.error({ err: error }, 'audit export failed midway');
      stream.destroy(error instanceof Error ? error : new Error('export failed'));
      return;
    }
    stream.end();
  })();
}
