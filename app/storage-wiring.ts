// What the storage module needs from other modules, wired here (modules do not import each other):
// lab membership (LabAccess, from the labs read model: a personal lab has its user's id) and the
// samples a box map shows (SampleDirectory). Until the physical-samples work is merged, samples
// have no barcode.
import type { Knex } from 'knex';
import { queryUnscoped } from '../platform/database/owner-scope.ts';
import type { MapSample } from '../modules/storage/box-map.ts';
import type { LabAccess, LabRole } from '../modules/storage/lab-access.ts';
import type { SampleDirectory } from '../modules/storage/routes.ts';
import type { StorageCommands } from '../modules/storage/commands.ts';
import { placesOf } from '../modules/storage/queries.ts';
import type { SlotKeeper } from '../modules/samples/routes-location.ts';

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

/** The placed samples from the samples read model (discarded ones leave the map). */
export function samplesForBoxMaps(knex: Knex): SampleDirectory {
  return async (sampleIds) => {
    if (sampleIds.length === 0) return new Map();
    const [rows] = await queryUnscoped<
      [{ sample_id: string; sample_type: string; subject_id: string; status: string }[]]
    >(knex, [
      {
        sql: 'SELECT sample_id, sample_type, subject_id, status FROM samples WHERE sample_id = ANY($1::uuid[]) AND deleted_at IS NULL',
        params: [`{${sampleIds.join(',')}}`],
      },
    ]);
    return new Map(
      rows.map((r): [string, MapSample] => [
        r.sample_id,
        { id: r.sample_id, barcode: null, sampleType: r.sample_type, subjectId: r.subject_id, status: r.status },
      ]),
    );
  };
}

/** The box side of a placement, as the samples module's location routes call it. */
export function slotKeeper(knex: Knex, storage: StorageCommands): SlotKeeper {
  return {
    claim: (boxId, position, sample, cause) => storage.claimSlot(boxId, position, sample, cause),
    release: (boxId, sampleId, reason, cause) => storage.releaseSlot(boxId, sampleId, reason, cause),
    locationsOf: (sampleIds) => placesOf(knex, sampleIds),
  };
}
