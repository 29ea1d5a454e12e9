// HTTP routes of physical samples (API.md, Physical samples): barcode lookup, freeze–thaw cycles,
// labels, FHIR Specimen.
// Declared beside routes.ts and registered before it, so /samples/by-barcode/... is never taken
// for a sample id.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import { setETag } from '../../platform/http/etag.ts';
import { canonicalJson } from '../../platform/http/idempotency.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import type { SampleCommands } from './commands.ts';
import { FHIR_CONTENT_TYPE, specimenSearchBundle, toSpecimen } from './physical/fhir.ts';
import { LabelError, labelsPdf, layoutLabel, renderLabel } from './physical/labels.ts';
import { buildLineage } from './physical/lineage.ts';
import * as physical from './physical/schemas.ts';
import * as queries from './queries.ts';
import * as schemas from './schemas.ts';

export interface PhysicalRouteOptions {
  readonly commands: SampleCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  /** After a sample was used up: its box frees the slot (storage, wired in app/). */
  readonly sampleLeft?: ((sampleId: string, reason: 'final', cause: CommandCause) => Promise<void>) | undefined;
}

const notFound = '`not_found`: unknown or deleted sample, or one of a lab the caller is not a member of';

export function physicalSampleRouters({ commands, knex, openapi, sampleLeft }: PhysicalRouteOptions): AppRouter[] {
  const routes = new RouteGroup(openapi, {
    tag: 'samples',
    description: 'Clinical samples: register, find, count, correct, move, discard; full history',
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/by-barcode/{barcode}',
    summary: "The sample with this barcode in the caller's labs (case-insensitive)",
    description:
      "A barcode is unique within a lab; when several of the caller's labs use it, the oldest sample answers.",
    params: schemas.barcodeParams,
    responses: { 200: { description: 'The sample; ETag = version', schema: schemas.sampleSchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      const [sample] = await queries.samplesByBarcode(knex, auth.userId, params.barcode);
      if (!sample) throw new HttpProblem(404, 'not_found', 'Sample not found.');
      setETag(ctx, sample.version);
      ctx.body = sample;
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples/{id}/thaws',
    summary: 'Record one freeze–thaw cycle',
    params: schemas.idParams,
    headers: ['changeReason'],
    responses: {
      200: { description: 'The sample with freezeThawCount one higher; ETag = version', schema: schemas.sampleSchema },
      403: "`forbidden`: the caller is a viewer of the sample's lab",
      404: notFound,
      422: '`invalid_transition`: the sample is consumed or disposed',
    },
    handler: async (ctx, { auth, params }) => {
      const roleIn = (labId: string) => queries.roleIn(knex, auth.userId, labId);
      const sample = await commands.thaw(params.id, roleIn, commandCause(ctx, undefined));
      setETag(ctx, sample.version);
      ctx.body = sample;
    },
  });
  return [
    routes.router,
    ...lineageRouters({ commands, knex, openapi, sampleLeft }),
    ...labelRouters({ knex, openapi }),
    ...fhirRouters({ knex, openapi }),
  ];
}

const sampleNotFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'Sample not found.');
};

const labelContent = (sample: queries.SampleView) => ({
  // A sample registered before barcodes carries its id instead.
  barcode: sample.barcode ?? sample.id,
  subjectId: sample.subjectId,
  sampleType: sample.sampleType,
  collectionDate: sample.collectionDate,
});

/** Printable labels (50 × 25 mm): one as SVG, PNG or PDF; a batch as one PDF. */
export function labelRouters({ knex, openapi }: Omit<PhysicalRouteOptions, 'commands'>): AppRouter[] {
  const routes = new RouteGroup(openapi, {
    tag: 'samples',
    description: 'Clinical samples: register, find, count, correct, move, discard; full history',
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/{id}/label',
    summary: 'The printable label of a sample (50 × 25 mm)',
    description:
      'The barcode (Code 128, DataMatrix or QR) with the barcode text, subject, type and collection date. ' +
      'An SVG also carries the barcode text as <title> and <text>.',
    params: schemas.idParams,
    query: physical.labelQuerySchema,
    responses: {
      200: {
        description: 'The label in the asked format',
        content: {
          'image/svg+xml': { schema: z.string() },
          'image/png': { schema: z.string().meta({ format: 'binary' }) },
          'application/pdf': { schema: z.string().meta({ format: 'binary' }) },
        },
      },
      404: notFound,
    },
    handler: async (ctx, { auth, params, query }) => {
      const sample = (await queries.getSample(knex, auth.userId, params.id)) ?? sampleNotFound();
      const label = await renderOrRefuse(() => renderLabel(labelContent(sample), query.format, query.symbology));
      ctx.type = label.contentType;
      ctx.body = label.body;
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples/labels',
    summary: 'The labels of up to 200 samples as one PDF, one label per page, in the order given',
    body: physical.labelsBodySchema,
    responses: {
      200: {
        description: 'The PDF',
        content: { 'application/pdf': { schema: z.string().meta({ format: 'binary' }) } },
      },
      404: '`not_found`: one of the ids is unknown, deleted, or of a lab the caller is not a member of',
    },
    handler: async (ctx, { auth, body }) => {
      const found = new Map((await queries.samplesByIds(knex, auth.userId, body.ids)).map((s) => [s.id, s]));
      const samples = body.ids.map((id) => found.get(id.toLowerCase()) ?? sampleNotFound());
      const layouts = await renderOrRefuse(() => samples.map((sample) => layoutLabel(labelContent(sample), 'code128')));
      ctx.type = 'application/pdf';
      ctx.body = await labelsPdf(layouts);
    },
  });
  return [routes.router];
}

/** A barcode a symbology cannot encode is the caller's 400, never a 500. */
async function renderOrRefuse<T>(render: () => T | Promise<T>): Promise<T> {
  try {
    return await render();
  } catch (error) {
    if (error instanceof LabelError) throw new HttpProblem(400, 'bad_request', error.message);
    throw error;
  }
}

const specimenSource = (sample: queries.SampleView) => ({ ...sample, barcode: sample.barcode ?? sample.id });

/** FHIR R4 Specimen reads (application/fhir+json). */
export function fhirRouters({ knex, openapi }: Omit<PhysicalRouteOptions, 'commands'>): AppRouter[] {
  const routes = new RouteGroup(openapi, { tag: 'fhir', description: 'FHIR R4 views of samples (Specimen)' });
  const fhirJson = (description: string) => ({
    description,
    content: { 'application/fhir+json': { schema: z.object({ resourceType: z.string() }).loose() } },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/fhir/Specimen/{id}',
    summary: 'A sample as an R4 Specimen',
    params: schemas.idParams,
    responses: { 200: fhirJson('The Specimen'), 404: notFound },
    handler: async (ctx, { auth, params }) => {
      const sample = (await queries.getSample(knex, auth.userId, params.id)) ?? sampleNotFound();
      ctx.type = FHIR_CONTENT_TYPE;
      ctx.body = JSON.stringify(toSpecimen(specimenSource(sample)));
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/fhir/Specimen',
    summary: "A subject's samples in the caller's labs as a searchset Bundle",
    query: physical.specimenSearchQuerySchema,
    responses: { 200: fhirJson('A searchset Bundle of Specimens, newest collection first (at most 1000)') },
    handler: async (ctx, { auth, query }) => {
      const samples = await queries.samplesOfSubject(knex, auth.userId, query.subject, MAX_SEARCH_RESULTS);
      const base = `${ctx.origin}/api/v1/fhir`;
      ctx.type = FHIR_CONTENT_TYPE;
      ctx.body = JSON.stringify(specimenSearchBundle(samples.map(specimenSource), ctx.href, base));
    },
  });
  return [routes.router];
}

const MAX_SEARCH_RESULTS = 1000;

/**
 * The request under the caller's Idempotency-Key, hashed, for the parent's event: a repeat whose
 * stored answer a crash lost still finds what it took (commands.take), whenever it comes.
 */
function requestKeyOf(ctx: Context, userId: string, what: string, body: unknown): string | undefined {
  const key = ctx.get('idempotency-key');
  if (key === '') return undefined;
  return createHash('sha256')
    .update(`${userId}\n${what}\n${key}\n${canonicalJson(body)}`)
    .digest('hex');
}

/** Aliquots, derivatives and the lineage they build. */
export function lineageRouters({ commands, knex, openapi, sampleLeft }: PhysicalRouteOptions): AppRouter[] {
  const routes = new RouteGroup(openapi, {
    tag: 'samples',
    description: 'Clinical samples: register, find, count, correct, move, discard; full history',
  });
  const roleOf = (userId: string) => (labId: string) => queries.roleIn(knex, userId, labId);
  const takeResponses = {
    403: "`forbidden`: the caller is a viewer of the sample's lab",
    404: notFound,
    422: '`insufficient_quantity`, `invalid_transition` (a consumed or disposed parent) or `validation_failed`',
  };
  /** The children as the read model has them (written and waited for before this). */
  const childrenOf = async (userId: string, ids: readonly string[]) => {
    const found = new Map((await queries.samplesByIds(knex, userId, ids)).map((s) => [s.id, s]));
    return ids.flatMap((id) => found.get(id) ?? []);
  };
  routes.add({
    method: 'post',
    path: '/api/v1/samples/{id}/aliquots',
    summary: 'Split a sample into aliquots, all or none',
    description:
      "Each child inherits lab, subject, type and collection date; their amounts come out of the parent's " +
      'remaining in the same decision (consumed at zero). An Idempotency-Key repeat creates nothing new.',
    params: schemas.idParams,
    body: physical.aliquotsBodySchema,
    headers: ['idempotencyKey', 'changeReason'],
    responses: {
      201: { description: 'The parent and its new aliquots', schema: schemas.aliquotsSchema },
      ...takeResponses,
    },
    handler: async (ctx, { auth, params, body }) => {
      const requestKey = requestKeyOf(ctx, auth.userId, `aliquots ${params.id}`, body);
      const take = { kind: 'aliquots' as const, count: body.count, quantity: body.quantity, requestKey };
      const cause = commandCause(ctx, undefined);
      const done = await commands.take(params.id, take, roleOf(auth.userId), cause);
      if (done.parent.status === 'consumed') await sampleLeft?.(params.id, 'final', cause);
      ctx.status = 201;
      ctx.body = { parent: done.parent, items: await childrenOf(auth.userId, done.children) };
    },
  });
  routes.add({
    method: 'post',
    path: '/api/v1/samples/{id}/derivatives',
    summary: 'Make a derivative (plasma, serum, buffy coat, DNA, RNA) of a sample',
    description: "`consumes` is what making it takes from the parent's remaining, in the same decision.",
    params: schemas.idParams,
    body: physical.derivativeBodySchema,
    headers: ['idempotencyKey', 'changeReason'],
    responses: { 201: { description: 'The derivative', schema: schemas.sampleSchema }, ...takeResponses },
    handler: async (ctx, { auth, params, body }) => {
      const requestKey = requestKeyOf(ctx, auth.userId, `derivatives ${params.id}`, body);
      const take = { kind: 'derivative' as const, ...body, requestKey };
      const cause = commandCause(ctx, undefined);
      const done = await commands.take(params.id, take, roleOf(auth.userId), cause);
      if (done.parent.status === 'consumed') await sampleLeft?.(params.id, 'final', cause);
      const [child] = await childrenOf(auth.userId, done.children);
      ctx.status = 201;
      ctx.set('Location', `/api/v1/samples/${child!.id}`);
      ctx.body = child;
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/samples/{id}/lineage',
    summary: "A sample's ancestors (root first) and descendants (a tree)",
    params: schemas.idParams,
    responses: { 200: { description: 'The lineage', schema: schemas.lineageSchema }, 404: notFound },
    handler: async (ctx, { auth, params }) => {
      const family = await queries.sampleFamily(knex, auth.userId, params.id);
      if (!family.some((s) => s.id === params.id)) sampleNotFound();
      const rows = family.map((s) => ({ ...s, sampleId: s.id }));
      const strip = ({ sampleId: _id, ...sample }: (typeof rows)[number]) => sample;
      const tree = buildLineage(params.id, rows);
      type Node = { sample: (typeof rows)[number]; children: Node[] };
      const shape = (node: Node): unknown => ({ sample: strip(node.sample), children: node.children.map(shape) });
      ctx.body = { ancestors: tree.ancestors.map(strip), descendants: tree.descendants.map(shape) };
    },
  });
  return [routes.router];
}
