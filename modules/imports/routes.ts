// HTTP routes of the imports module (API.md, Imports and bulk changes). The body of POST /imports
// is a CSV file, read here as bytes up to the limit (the platform's JSON parser passes it by); the
// job then runs in the worker. A lab the caller is not a member of is 404; importing needs the
// technician role, reading an import the viewer role.
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { fail } from '../../platform/commands/decision.ts';
import { roleLadder } from '../../platform/commands/roles.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { payloadTooLarge } from '../../platform/http/body.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppRouter, AuthState } from '../../platform/http/state.ts';
import { MAX_IMPORT_BYTES } from './columns.ts';
import type { ImportCommands } from './commands.ts';
import { importView, type ImportJob } from './decide.ts';
import { errorsCsv } from './csv-out.ts';
import type { ImportMode, ImportStatus } from './events.ts';
import { submitImport } from './submit.ts';
import * as schemas from './schemas.ts';
import * as store from './store.ts';
import type { ImportWorker } from './worker.ts';

export const labRoles = ['viewer', 'technician', 'manager'] as const;
export type LabRole = (typeof labRoles)[number];
const labLadder = roleLadder(labRoles, 'the lab');

/** The caller's role in a lab (undefined: not a member), from the labs read model, wired by app/. */
export type RoleIn = (userId: string, labId: string) => Promise<LabRole | undefined>;

export interface ImportRouteOptions {
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  readonly commands: ImportCommands;
  readonly worker: ImportWorker;
  readonly roleIn: RoleIn;
}

const notFound = '`not_found`: unknown import, or a lab the caller is not a member of';
const forbidden = '`forbidden`: the caller is a member of the lab, with a role too low';

async function requireRole(roleIn: RoleIn, auth: AuthState, labId: string, needed: LabRole): Promise<void> {
  labLadder.require(await roleIn(auth.userId, labId), needed);
}

/** The body as bytes: text/csv only, at most the import limit (declared or counted while reading). */
async function csvBody(ctx: Context): Promise<Buffer> {
  if (!ctx.is('text/csv')) throw new HttpProblem(415, 'unsupported_media_type', 'Send the file as text/csv.');
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_IMPORT_BYTES) throw payloadTooLarge(MAX_IMPORT_BYTES);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_IMPORT_BYTES) throw payloadTooLarge(MAX_IMPORT_BYTES);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The job, when the caller's role in its lab reaches `needed`; 404 otherwise (or 403 below the role). */
async function jobFor(options: ImportRouteOptions, auth: AuthState, id: string, needed: LabRole): Promise<ImportJob> {
  const state = await options.commands.load(id);
  if (state.kind === 'none') return fail({ code: 'not_found', message: 'import not found' });
  const role = await options.roleIn(auth.userId, state.labId);
  if (role === undefined) return fail({ code: 'not_found', message: 'import not found' });
  await requireRole(options.roleIn, auth, state.labId, needed);
  return state;
}

export function importRouters(options: ImportRouteOptions): AppRouter[] {
  const routes = new RouteGroup(options.openapi, {
    tag: 'imports',
    description: 'CSV imports of samples as jobs: a dry run, an error report, atomic or best-effort',
  });
  submitRoute(routes, options);
  readRoutes(routes, options);
  return [routes.router];
}

function submitRoute(routes: RouteGroup, options: ImportRouteOptions): void {
  routes.add({
    method: 'post',
    path: '/api/v1/imports',
    summary: 'Import samples from a CSV file (technician of the lab)',
    description:
      'The body is the file, `text/csv` (UTF-8, a header row, at most 10 MiB and 100,000 rows; docs/imports.md). The job runs in the background: follow it at Location.',
    query: schemas.submitQuery,
    rawBody: {
      required: true,
      description: 'The CSV file: a header row naming the columns, then one sample per row',
      content: { 'text/csv': { schema: { type: 'string' } } },
    },
    responses: {
      202: { description: 'Accepted; Location set', schema: schemas.submittedSchema },
      403: forbidden,
      404: '`not_found`: a lab the caller is not a member of',
      409: '`duplicate_import`: this file was imported into this lab already',
      413: '`payload_too_large`: more than 10 MiB',
      415: '`unsupported_media_type`: the body is not text/csv',
    },
    handler: async (ctx, { auth, query }) => {
      await requireRole(options.roleIn, auth, query.labId, 'technician');
      const content = await csvBody(ctx);
      const importId = await submitImport(options, { ...query, ownerId: auth.userId, content }, commandCause(ctx));
      ctx.status = 202;
      ctx.set('Location', `/api/v1/imports/${importId}`);
      ctx.body = { id: importId, status: 'validating' };
    },
  });
}

function readRoutes(routes: RouteGroup, options: ImportRouteOptions): void {
  const { knex, commands } = options;
  routes.add({
    method: 'get',
    path: '/api/v1/imports',
    summary: "A lab's imports, newest first (viewer of the lab)",
    query: schemas.listQuery,
    responses: { 200: { description: 'The imports', schema: schemas.importListSchema }, 404: notFound },
    handler: async (ctx, { auth, query }) => {
      await requireRole(options.roleIn, auth, query.labId, 'viewer');
      const rows = await knex('imports')
        .where('lab_id', query.labId)
        .orderBy([
          { column: 'submitted_at', order: 'desc' },
          { column: 'import_id', order: 'desc' },
        ])
        .limit(query.limit ?? 100)
        .select<ListRow[]>('*');
      ctx.body = { items: rows.map(listItem) };
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/imports/{id}',
    summary: 'An import: its status, counts and first errors (viewer of the lab)',
    params: schemas.idParams,
    responses: { 200: { description: 'The import', schema: schemas.importSchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      ctx.body = importView(await jobFor(options, auth, params.id, 'viewer'));
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/imports/{id}/errors.csv',
    summary: 'Every refused row with its errors, as CSV to fix and import again (viewer of the lab)',
    params: schemas.idParams,
    responses: {
      200: { description: 'CSV: the rows as read, with an errors column', content: { 'text/csv': {} } },
      404: notFound,
    },
    handler: async (ctx, { auth, params }) => {
      await jobFor(options, auth, params.id, 'viewer');
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', `attachment; filename="import-${params.id}-errors.csv"`);
      ctx.body = Readable.from(errorsCsv(store.refusedRows(knex, params.id)));
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/imports/{id}/cancel',
    summary: 'Cancel an import (technician of the lab); a running one stops after the batch in hand',
    params: schemas.idParams,
    responses: {
      202: { description: 'The import', schema: schemas.importSchema },
      403: forbidden,
      404: notFound,
      422: '`invalid_transition`: the import has ended',
    },
    handler: async (ctx, { auth, params }) => {
      await jobFor(options, auth, params.id, 'technician');
      const command = { type: 'CancelImport', data: { now: new Date() } } as const;
      const state = await commands.execute(params.id, command, commandCause(ctx), true);
      ctx.status = 202;
      ctx.body = state.kind === 'job' ? importView(state) : undefined;
    },
  });
}

interface ListRow {
  import_id: string;
  lab_id: string;
  status: ImportStatus;
  dry_run: boolean;
  mode: ImportMode;
  rows: number | null;
  created: number;
  sha256: string;
  submitted_at: Date;
  finished_at: Date | null;
}

const listItem = (r: ListRow) => ({
  id: r.import_id,
  labId: r.lab_id,
  status: r.status,
  dryRun: r.dry_run,
  mode: r.mode,
  rows: r.rows,
  created: r.created,
  sha256: r.sha256,
  startedAt: r.submitted_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
});
