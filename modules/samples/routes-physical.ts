// HTTP routes of physical samples (API.md, Physical samples): barcode lookup, freeze–thaw cycles.
// Declared beside routes.ts and registered before it, so /samples/by-barcode/... is never taken
// for a sample id.
import type { Knex } from 'knex';
import { commandCause } from '../../platform/http/command-cause.ts';
import { setETag } from '../../platform/http/etag.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import type { SampleCommands } from './commands.ts';
import * as queries from './queries.ts';
import * as schemas from './schemas.ts';

export interface PhysicalRouteOptions {
  readonly commands: SampleCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
}

const notFound = '`not_found`: unknown or deleted sample, or one of a lab the caller is not a member of';

export function physicalSampleRouters({ commands, knex, openapi }: PhysicalRouteOptions): AppRouter[] {
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
  return [routes.router];
}
