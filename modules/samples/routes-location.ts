// The sample side of storage placement (API.md, Storage): PUT/DELETE /samples/{id}/location.
// A placement touches two streams, the box's and the sample's; the box decides first (it owns "one
// sample per slot"), then the sample records it, then an old box frees the slot the sample left.
// Each step is idempotent, so a retry, or the reconciler at start (app/storage-wiring.ts),
// completes a placement a crash interrupted. The box side is another module's: app/ passes it in.
import type { Knex } from 'knex';
import { z } from 'zod';
import { DomainError } from '../../platform/commands/decision.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { commandCause } from '../../platform/http/command-cause.ts';
import { setETag } from '../../platform/http/etag.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppContext, AppRouter } from '../../platform/http/state.ts';
import type { RoleLookup, SampleCommands } from './commands.ts';
import { atLeast } from './decide.ts';
import { isRegistered, type RegisteredSample } from './evolve.ts';
import * as queries from './queries.ts';
import * as schemas from './schemas.ts';

export type SlotReleaseReason = 'moved' | 'unplaced' | 'final' | 'transferred' | 'abandoned';

/** Where a sample is: its box, position and the box's path (`Freezer A / Rack 2 / Box 7`). */
export interface SampleLocation {
  readonly unitId: string;
  readonly position: string;
  readonly path: string;
}

/** The box side of a placement (the storage module), wired in app/. */
export interface SlotKeeper {
  /** Claims the slot; DomainError 409 position_occupied, 422 invalid_position, not_a_box, … */
  claim(
    boxId: string,
    position: string,
    sample: { id: string; labId: string; sampleType: string },
    cause: CommandCause,
  ): Promise<void>;
  /** Frees the slot the sample holds in the box, if any. */
  release(boxId: string, sampleId: string, reason: SlotReleaseReason, cause: CommandCause): Promise<void>;
  locationsOf(sampleIds: readonly string[]): Promise<Map<string, SampleLocation>>;
  /** Frees every slot the sample holds (it was discarded or transferred). */
  leave(sampleId: string, reason: 'final' | 'transferred', cause: CommandCause): Promise<void>;
  /** The samples placed in the unit or anywhere below it. */
  samplesIn(unitId: string): Promise<string[]>;
}

export interface LocationRouteOptions {
  readonly commands: SampleCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  readonly slots: SlotKeeper;
}

const placeBody = z.strictObject({
  unitId: z.uuid().overwrite((id) => id.toLowerCase()),
  position: z.string().min(1).max(8),
  reason: z.string().max(500).optional(),
});
const unplaceBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();

const notFound = (): never => {
  throw new HttpProblem(404, 'not_found', 'Sample not found.');
};

/** The sample a technician of its lab may place: 404 for the unknown and for non-members, 403 for viewers. */
async function placeableSample(
  commands: SampleCommands,
  sampleId: string,
  roleIn: RoleLookup,
): Promise<RegisteredSample> {
  const state = await commands.load(sampleId);
  if (!isRegistered(state) || state.kind === 'discarded') return notFound();
  const role = await roleIn(state.labId);
  if (role === undefined) return notFound();
  if (!atLeast(role, 'technician'))
    throw new HttpProblem(403, 'forbidden', "Placing samples needs the technician role in the sample's lab.");
  return state;
}

/** An unknown box and a box of another lab get the same answer: nothing of another lab leaks. */
async function claimOrExplain(slots: SlotKeeper, claim: Parameters<SlotKeeper['claim']>): Promise<void> {
  try {
    await slots.claim(...claim);
  } catch (error) {
    if (error instanceof DomainError && error.code === 'not_found')
      throw new DomainError({
        code: 'unit_of_another_lab',
        message: "no such box in the sample's lab",
        status: 422,
        errors: [{ path: 'unitId', message: "no such box in the sample's lab" }],
      });
    throw error;
  }
}

export function locationRouters(options: LocationRouteOptions): AppRouter[] {
  const { commands, knex, slots } = options;
  const routes = new RouteGroup(options.openapi, { tag: 'samples', description: 'Clinical samples' });
  const roleOf = (userId: string) => (labId: string) => queries.roleIn(knex, userId, labId);
  const answer = async (ctx: AppContext, userId: string, sampleId: string) => {
    const sample = (await queries.getSample(knex, userId, sampleId)) ?? notFound();
    const location = (await slots.locationsOf([sampleId])).get(sampleId) ?? null;
    ctx.status = 200;
    setETag(ctx, sample.version);
    ctx.body = { ...sample, location };
  };
  routes.add({
    method: 'put',
    path: '/api/v1/samples/{id}/location',
    summary: 'Place a sample in a slot of a box',
    description:
      'The box decides first (one sample per slot: of many clients placing into one slot at once exactly one ' +
      "wins), then the sample records the placement (in its history); a slot it held before is freed. A retry completes, it doesn't double.",
    params: schemas.idParams,
    body: placeBody,
    headers: ['changeReason'],
    responses: {
      200: { description: 'The sample with its location; ETag = version', schema: schemas.placedSampleSchema },
      403: "`forbidden`: the caller is a viewer of the sample's lab",
      404: '`not_found`: unknown or discarded sample, or one of a lab the caller is not a member of',
      409: '`position_occupied`: another sample holds that slot',
      422:
        "`invalid_position` (not a position of the grid), `unit_of_another_lab` (no such box in the sample's lab), " +
        '`not_a_box`, `tissue_outside_freezer` (a tissue sample in a box not below a freezer)',
    },
    handler: async (ctx, { auth, params, body }) => {
      const roleIn = roleOf(auth.userId);
      const sample = await placeableSample(commands, params.id, roleIn);
      const cause = commandCause(ctx, body.reason);
      const who = { id: sample.sampleId, labId: sample.labId, sampleType: sample.sampleType };
      await claimOrExplain(slots, [body.unitId, body.position, who, cause]);
      const { left } = await commands.place(sample.sampleId, body.unitId, body.position, roleIn, cause);
      // Another box frees the slot left (within one box, the claim freed it in the same append).
      if (left && left.unitId !== body.unitId) await slots.release(left.unitId, sample.sampleId, 'moved', cause);
      await answer(ctx, auth.userId, sample.sampleId);
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/samples/{id}/location',
    summary: 'Take a sample out of its slot',
    description: 'The sample records it first (in its history), then the box frees the slot. No place: nothing to do.',
    params: schemas.idParams,
    body: unplaceBody,
    headers: ['changeReason'],
    responses: {
      204: 'Out of its slot',
      403: "`forbidden`: the caller is a viewer of the sample's lab",
      404: '`not_found`: unknown or discarded sample, or one of a lab the caller is not a member of',
    },
    handler: async (ctx, { auth, params, body }) => {
      const roleIn = roleOf(auth.userId);
      const sample = await placeableSample(commands, params.id, roleIn);
      const cause = commandCause(ctx, body?.reason);
      if (sample.place) {
        await commands.unplace(sample.sampleId, 'unplaced', roleIn, cause);
        await slots.release(sample.place.unitId, sample.sampleId, 'unplaced', cause);
      }
      ctx.status = 204;
    },
  });
  return [routes.router];
}
