// The labs read model: every lab and who belongs to it with which role.
//   labs         one row per lab, with its version (events in its stream)
//   lab_members  (lab, user) → role: what every lab-scoped query and the row-level security of
//                the per-lab read models (samples) take the caller's labs from
//
// Idempotent: an event at or below the lab row's version changes nothing.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { READER_ROLE } from '../../platform/database/owner-scope.ts';
import { labEvents } from '../../modules/labs/events.ts';
import { tableDdl, type Projection } from '../engine/index.ts';

export const labsProjectionName = 'labs';

const readable = (t: string) => `GRANT SELECT ON "${t}" TO ${READER_ROLE}`;

const labs = tableDdl(
  'lab_id',
  `lab_id     uuid NOT NULL,
  name       text NOT NULL,
  personal   boolean NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  version    integer NOT NULL`,
  readable,
);

const members = tableDdl(
  'lab_id, user_id',
  `lab_id   uuid NOT NULL,
  user_id  uuid NOT NULL,
  role     text NOT NULL,
  added_at timestamptz NOT NULL`,
  (t) => `CREATE INDEX "${t}_by_user" ON "${t}" (user_id, lab_id)`,
  readable,
);

async function applyOne(trx: Knex.Transaction, table: (n: string) => string, event: RecordedEvent): Promise<void> {
  if (!labEvents.isType(event.type)) return;
  const e = labEvents.parse(event.type, event.data);
  const version = event.revision + 1;
  const labsTable = table('labs');
  const membersTable = table('lab_members');
  if (e.type === 'LabCreated') {
    const d = e.data;
    await trx(labsTable)
      .insert({
        lab_id: d.labId,
        name: d.name,
        personal: d.personal,
        created_at: d.createdAt,
        updated_at: d.createdAt,
        version,
      })
      .onConflict('lab_id')
      .ignore();
    return;
  }
  const moved = await trx(labsTable)
    .where('lab_id', e.data.labId)
    .andWhere('version', '<', version)
    .update({ version, ...(e.type === 'LabRenamed' ? { name: e.data.to, updated_at: e.data.renamedAt } : {}) });
  if (moved === 0) return; // applied before
  const key = { lab_id: e.data.labId, user_id: 'userId' in e.data ? e.data.userId : '' };
  switch (e.type) {
    case 'MemberAdded':
      await trx(membersTable)
        .insert({ ...key, role: e.data.role, added_at: e.data.addedAt })
        .onConflict(['lab_id', 'user_id'])
        .merge();
      break;
    case 'MemberRoleChanged':
      await trx(membersTable).where(key).update({ role: e.data.to });
      break;
    case 'MemberRemoved':
      await trx(membersTable).where(key).delete();
      break;
    case 'LabRenamed':
      break;
  }
}

export const labsProjection: Projection = {
  name: labsProjectionName,
  version: 1,
  eventTypes: labEvents.types,
  tables: { labs, lab_members: members },
  async apply(events, { trx, table }) {
    for (const event of events) await applyOne(trx, table, event);
  },
};
