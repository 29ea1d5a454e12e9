// Reactions of the labs module to other modules' events, wired here because modules do not
// import each other (they meet on event type names):
//   UserRegistered  → the account's personal lab (its id is the account's id); a new deployment
//                     replays the log from the first event, so accounts older than labs get theirs
//   UserErased      → the person leaves every lab they belong to (a lab may be left without a
//                     manager: an administrator gives it one); the lab's samples stay
//   MemberAdded     → of someone already erased (a race with the erasure): they leave again
// Runs as a projection (one leader, its own checkpoint); its table remembers who belongs where.
// Every reaction is idempotent (decided on the lab's stream), so a replay appends nothing twice.
import { z } from 'zod';
import type { Knex } from 'knex';
import type { CommandCause } from '../platform/eventstore/metadata.ts';
import type { RecordedEvent } from '../platform/eventstore/port.ts';
import type { Projection } from '../projections/engine/index.ts';
import type { LabCommands } from '../modules/labs/commands.ts';

const memberships = (t: string) => `CREATE TABLE "${t}" (
  lab_id  uuid NOT NULL,
  user_id uuid NOT NULL,
  CONSTRAINT "${t}_pkey" PRIMARY KEY (user_id, lab_id))`;
const erased = (t: string) => `CREATE TABLE "${t}" (user_id uuid CONSTRAINT "${t}_pkey" PRIMARY KEY)`;

const ofUser = z.object({ userId: z.uuid() });
const ofMember = z.object({ labId: z.uuid(), userId: z.uuid() });

const causedBy = (event: RecordedEvent): CommandCause => ({
  actorId: null,
  actorType: 'system',
  requestId: null,
  correlationId: event.metadata.correlationId ?? null,
  causationId: event.metadata.eventId,
  traceparent: null,
  reason: null,
});

async function react(
  labs: LabCommands,
  trx: Knex.Transaction,
  table: (logical: string) => string,
  event: RecordedEvent,
): Promise<void> {
  const cause = causedBy(event);
  switch (event.type) {
    case 'UserRegistered':
      await labs.ensurePersonalLab(ofUser.parse(event.data).userId, cause, false);
      return;
    case 'UserErased': {
      const { userId } = ofUser.parse(event.data);
      await trx(table('lab_reaction_erased')).insert({ user_id: userId }).onConflict('user_id').ignore();
      const rows = await trx(table('lab_reaction_members'))
        .where('user_id', userId)
        .select<{ lab_id: string }[]>('lab_id');
      for (const { lab_id } of rows) await labs.eraseMember(lab_id, userId, cause);
      return;
    }
    case 'MemberAdded': {
      const { labId, userId } = ofMember.parse(event.data);
      await trx(table('lab_reaction_members'))
        .insert({ lab_id: labId, user_id: userId })
        .onConflict(['user_id', 'lab_id'])
        .ignore();
      if (await trx(table('lab_reaction_erased')).where('user_id', userId).first())
        await labs.eraseMember(labId, userId, cause);
      return;
    }
    case 'MemberRemoved': {
      const { labId, userId } = ofMember.parse(event.data);
      await trx(table('lab_reaction_members')).where({ lab_id: labId, user_id: userId }).delete();
      return;
    }
  }
}

export function labReactions(labs: LabCommands): Projection {
  return {
    name: 'lab_reactions',
    version: 1,
    eventTypes: ['UserRegistered', 'UserErased', 'MemberAdded', 'MemberRemoved'],
    tables: { lab_reaction_members: memberships, lab_reaction_erased: erased },
    async apply(events, { trx, table }) {
      for (const event of events) await react(labs, trx, table, event);
    },
  };
}
