// What the storage module needs from other modules, wired here (modules do not import each other):
// lab membership (LabAccess, from the labs read model: a personal lab has its user's id) and the
// samples a box map shows (SampleDirectory).
import type { Knex } from 'knex';
import { queryUnscoped } from '../platform/database/owner-scope.ts';
import type { MapSample } from '../modules/storage/box-map.ts';
import type { LabAccess, LabRole } from '../modules/storage/lab-access.ts';
import type { SampleDirectory } from '../modules/storage/routes.ts';
import type { StorageCommands } from '../modules/storage/commands.ts';
import type { ReleaseReason } from '../modules/storage/events.ts';
import type { SampleCommands } from '../modules/samples/commands.ts';
import { isRegistered } from '../modules/samples/evolve.ts';
import { isFinal } from '../modules/samples/physical/status.ts';
import { systemCause } from '../platform/eventstore/metadata.ts';
import { placesOf } from '../modules/storage/queries.ts';
import type { SlotKeeper } from '../modules/samples/routes-location.ts';
import type { StorageFacts } from '../modules/dialog/storage-facts.ts';

/** Membership read afresh on every call (no cache): a change counts on the very next request. */
export function storageLabAccess(knex: Knex): LabAccess {
  return {
    async roleIn(userId, labId) {
      if (userId === labId) return 'manager';
      const row = await knex('lab_members')
        .where({ lab_id: labId, user_id: userId })
        .first<{ role: LabRole } | undefined>('role');
      return row?.role;
    },
    async labsOf(userId) {
      const rows = await knex('lab_members').where('user_id', userId).select<{ lab_id: string }[]>('lab_id');
      return [...new Set([userId, ...rows.map((r) => r.lab_id)])];
    },
  };
}

interface SlotRow {
  position: string;
  sample_id: string;
  lab_id: string;
}
interface MapSampleRow {
  sample_id: string;
  lab_id: string;
  barcode: string | null;
  sample_type: string;
  subject_id: string;
  status: string;
  discarded: boolean;
}

/**
 * The samples in a box's slots, in one round trip (a full box costs the round trip of an empty
 * one): the slots, and the samples they hold by their key. Two single-table statements with no other
 * condition in SQL, so each plan stays a look-up by key even on tables without statistics (a
 * partial index would tempt the planner into reading every sample). Discarded samples, and a sample
 * of another lab than the box's (a transfer whose release is still pending), leave the map.
 */
export function samplesForBoxMaps(knex: Knex): SampleDirectory {
  return async (unitId) => {
    const [slots, samples] = await queryUnscoped<[SlotRow[], MapSampleRow[]]>(knex, [
      { sql: 'SELECT position, sample_id, lab_id FROM storage_slots WHERE unit_id = $1::uuid', params: [unitId] },
      {
        sql: `SELECT sample_id, lab_id, barcode, sample_type, subject_id, status, deleted_at IS NOT NULL AS discarded
                FROM samples WHERE sample_id = ANY(ARRAY(SELECT sample_id FROM storage_slots WHERE unit_id = $1::uuid))`,
        params: [unitId],
      },
    ]);
    const byId = new Map(samples.map((r) => [r.sample_id, r]));
    const placed = new Map<string, MapSample>();
    for (const slot of slots) {
      const r = byId.get(slot.sample_id);
      if (r === undefined || r.discarded || r.lab_id !== slot.lab_id) continue;
      placed.set(slot.position, {
        id: r.sample_id,
        barcode: r.barcode,
        sampleType: r.sample_type,
        subjectId: r.subject_id,
        status: r.status,
      });
    }
    return placed;
  };
}

/** The box side of a placement, as the samples module's location routes call it. */
export function slotKeeper(knex: Knex, storage: StorageCommands): SlotKeeper {
  return {
    claim: (boxId, position, sample, cause) => storage.claimSlot(boxId, position, sample, cause),
    release: (boxId, sampleId, reason, cause) => storage.releaseSlot(boxId, sampleId, reason, cause),
    locationsOf: (sampleIds) => placesOf(knex, sampleIds),
    samplesIn: (unitId) => samplesBelow(knex, unitId),
    async leave(sampleId, reason, cause) {
      const place = (await placesOf(knex, [sampleId])).get(sampleId);
      if (place) await storage.releaseSlot(place.unitId, sampleId, reason, cause);
    },
  };
}

/** The samples in the unit's slots and in those of every unit below it (the GIN index on ancestor_ids). */
async function samplesBelow(knex: Knex, unitId: string): Promise<string[]> {
  const [rows] = await queryUnscoped<[{ sample_id: string }[]]>(knex, [
    {
      sql: `SELECT s.sample_id FROM storage_slots s JOIN storage_units u ON u.unit_id = s.unit_id
             WHERE u.removed_at IS NULL AND (u.unit_id = $1::uuid OR u.ancestor_ids @> ARRAY[$1::uuid])`,
      params: [unitId],
    },
  ]);
  return rows.map((r) => r.sample_id);
}

export interface PlacementReconcilerDeps {
  readonly knex: Knex;
  readonly storage: StorageCommands;
  readonly samples: SampleCommands;
  /** Claims younger than this may belong to a placement still under way (default 5 s). */
  readonly graceMs?: number;
  readonly now?: () => Date;
}

interface Claim {
  unit_id: string;
  position: string;
  sample_id: string;
  lab_id: string;
  claimed_at: Date;
}

export type ReconcileOutcome = 'kept' | 'completed' | 'released';

/**
 * Completes or undoes placements a crash cut between the box's claim and the sample's event: every
 * claim older than the grace period is compared with the sample's stream. The side that spoke
 * last wins: a claim newer than the sample's last placement change is completed (SamplePlaced,
 * then the old box frees the slot left), an older one, or one of a sample that is final or in
 * another lab, is released.
 */
export async function reconcilePlacements(deps: PlacementReconcilerDeps): Promise<Record<ReconcileOutcome, number>> {
  const now = deps.now ?? (() => new Date());
  const before = new Date(now().getTime() - (deps.graceMs ?? 5000));
  const [claims] = await queryUnscoped<[Claim[]]>(deps.knex, [
    {
      sql: 'SELECT unit_id, position, sample_id, lab_id, claimed_at FROM storage_slots WHERE claimed_at < $1 ORDER BY claimed_at',
      params: [before.toISOString()],
    },
  ]);
  const counts: Record<ReconcileOutcome, number> = { kept: 0, completed: 0, released: 0 };
  for (const claim of claims) counts[await reconcileClaim(deps, claim)] += 1;
  return counts;
}

async function reconcileClaim(deps: PlacementReconcilerDeps, claim: Claim): Promise<ReconcileOutcome> {
  const cause = systemCause();
  const release = async (reason: ReleaseReason): Promise<ReconcileOutcome> => {
    await deps.storage.releaseSlot(claim.unit_id, claim.sample_id, reason, cause);
    return 'released';
  };
  const state = await deps.samples.load(claim.sample_id);
  if (!isRegistered(state)) return release('abandoned');
  if (state.kind === 'discarded' || isFinal(state.status)) return release('final');
  if (state.labId !== claim.lab_id) return release('transferred');
  const place = state.place ?? null;
  if (place?.unitId === claim.unit_id && place.position === claim.position) return 'kept';
  const claimedAt = new Date(claim.claimed_at).toISOString();
  if ((state.placeChangedAt ?? '') >= claimedAt) return release(place ? 'moved' : 'unplaced');
  // The sample's technicians started this placement; the service finishes it on their behalf.
  await deps.samples.place(claim.sample_id, claim.unit_id, claim.position, () => Promise.resolve('manager'), cause);
  if (place && place.unitId !== claim.unit_id)
    await deps.storage.releaseSlot(place.unitId, claim.sample_id, 'moved', cause);
  return 'completed';
}

/** The assistant's storage answers, narrowed to the caller's labs like every read. */
export function storageFacts(knex: Knex): StorageFacts {
  const labs = storageLabAccess(knex);
  return {
    async whereIs(userId, sampleId) {
      const [rows] = await queryUnscoped<[{ sample_id: string }[]]>(knex, [
        {
          sql: 'SELECT sample_id FROM samples WHERE sample_id = $1::uuid AND lab_id = ANY($2::uuid[]) AND deleted_at IS NULL',
          params: [sampleId, `{${(await labs.labsOf(userId)).join(',')}}`],
        },
      ]);
      if (rows.length === 0) return undefined;
      const place = (await placesOf(knex, [sampleId])).get(sampleId);
      return place ? { path: place.path, position: place.position } : null;
    },
    async freeSlots(userId, boxName) {
      type Row = { path: string; capacity: number; occupied: number; lab: string | null };
      const [rows] = await queryUnscoped<[Row[]]>(knex, [
        {
          sql: `SELECT u.path, u.capacity, u.occupied, l.name AS lab FROM storage_units u LEFT JOIN labs l ON l.lab_id = u.lab_id
                 WHERE u.kind = 'box' AND u.removed_at IS NULL AND lower(u.name) = lower($1) AND u.lab_id = ANY($2::uuid[])
                 ORDER BY u.path LIMIT 20`,
          params: [boxName.trim(), `{${(await labs.labsOf(userId)).join(',')}}`],
        },
      ]);
      return rows.map((r) => ({
        path: r.path,
        lab: r.lab ?? 'Personal lab',
        free: r.capacity - r.occupied,
        capacity: r.capacity,
      }));
    },
  };
}
