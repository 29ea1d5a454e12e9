// GET /samples/export?format=csv: the samples the list would show (same filters, same lab scope),
// as an import file that imports back unchanged (modules/imports/csv-out.ts). Wired here because
// it reads the samples module and writes the imports module's format; declared before the samples
// routes so `export` is not taken for a sample id. Streams: a page of samples at a time.
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { OpenApiRegistry } from '../platform/http/openapi.ts';
import { HttpProblem } from '../platform/http/problem.ts';
import { RouteGroup } from '../platform/http/routes.ts';
import type { AppRouter } from '../platform/http/state.ts';
import type { ImportRow } from '../modules/imports/columns.ts';
import { exportCsv } from '../modules/imports/csv-out.ts';
import { listSamples, type SampleFilter, type SampleView } from '../modules/samples/queries.ts';
import { listQuery } from '../modules/samples/schemas.ts';
import { placesOf, type Place } from '../modules/storage/queries.ts';

const PAGE = 500;

export const exportQuery = listQuery.omit({ limit: true, cursor: true }).extend({
  format: z.literal('csv').meta({ description: 'csv, the columns of an import file' }),
});

/** A sample as an import row; its box by path, so the file also imports into another lab with the same boxes. */
const asRow = (s: SampleView, place: Place | undefined): ImportRow => ({
  barcode: s.barcode,
  sampleType: s.sampleType,
  subjectId: s.subjectId,
  collectionDate: s.collectionDate,
  status: s.status,
  quantity: s.quantity,
  box: place?.path ?? null,
  position: place?.position ?? null,
  notes: s.notes,
});

type Page = NonNullable<Awaited<ReturnType<typeof listSamples>>>;

async function* exportRows(knex: Knex, userId: string, filter: SampleFilter, first: Page): AsyncGenerator<ImportRow> {
  let page = first;
  for (;;) {
    const rows = page.rows.slice(0, PAGE);
    // The page's places in one read of the storage read model.
    const places = await placesOf(
      knex,
      rows.map((s) => s.id),
    );
    for (const s of rows) yield asRow(s, places.get(s.id));
    if (page.rows.length <= PAGE) return;
    const last = page.rows[PAGE - 1]!;
    const after = { collectionDate: last.collectionDate, id: last.id };
    page = (await listSamples(knex, userId, filter, { limit: PAGE, after })) ?? { rows: [], total: 0 };
  }
}

export function sampleExportRouter(knex: Knex, openapi: OpenApiRegistry): AppRouter {
  const routes = new RouteGroup(openapi, {
    tag: 'imports',
    description: 'CSV imports of samples as jobs: a dry run, an error report, atomic or best-effort',
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/export',
    summary: "The samples of the caller's labs as a CSV import file (the list's filters)",
    query: exportQuery,
    responses: {
      200: { description: 'CSV, the columns of an import file', content: { 'text/csv': {} } },
      404: "`not_found`: `labId` is not one of the caller's labs",
    },
    handler: async (ctx, { auth, query: { format: _format, ...filter } }) => {
      const first = await listSamples(knex, auth.userId, filter, { limit: PAGE });
      if (!first) throw new HttpProblem(404, 'not_found', 'Lab not found.');
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', 'attachment; filename="samples.csv"');
      ctx.body = Readable.from(exportCsv(exportRows(knex, auth.userId, filter, first)));
    },
  });
  return routes.router;
}
