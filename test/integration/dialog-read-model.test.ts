// The dialog read model applies a batch in a few statements: the rows must be exactly those of
// applying the same events one by one, and applying a batch again (a replay) changes nothing —
// no message twice, no usage counted twice, no conversation moved backwards.
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { dialogProjection } from '../../projections/dialog/dialog-read-model.ts';
import { createTables } from '../../projections/engine/tables.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let knex: Knex;
let vault: PersonalDataVault;
test.before(async () => {
  db = await createTestDatabase('vialog_dialog_rm');
  knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  vault = new PersonalDataVault(knex, randomBytes(32));
});
test.after.always(async () => {
  await knex?.destroy();
  await db?.drop();
});

function recorded(streamId: string, revision: number, type: string, data: Record<string, unknown>): RecordedEvent {
  return {
    type,
    data,
    streamId,
    revision,
    position: { commit: 1n, prepare: BigInt(revision) },
    recordedAt: new Date().toISOString(),
    metadata: {
      eventId: randomUUID(),
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      actorId: null,
      actorType: 'system',
      requestId: null,
      correlationId: null,
      causationId: null,
      traceparent: null,
    },
  };
}

async function history(): Promise<RecordedEvent[]> {
  const alice = randomUUID();
  const bob = randomUUID();
  const events: RecordedEvent[] = [];
  for (const [owner, conversations] of [
    [alice, 2],
    [bob, 1],
  ] as const) {
    for (let c = 0; c < conversations; c++) {
      const conversationId = randomUUID();
      const stream = `conversation-${conversationId}`;
      let revision = 0;
      const at = (minute: number) => `2026-11-2${c}T23:5${minute}:00.000Z`; // crosses midnight UTC: two usage days
      events.push(
        recorded(stream, revision++, 'ConversationStarted', {
          conversationId,
          ownerId: owner,
          title: `t${c}`,
          startedAt: at(0),
        }),
      );
      for (let m = 0; m < 3; m++) {
        const question = randomUUID();
        events.push(
          recorded(stream, revision++, 'UserMessagePosted', {
            conversationId,
            ownerId: owner,
            messageId: question,
            content: await vault.seal(owner, `question ${m}`),
            postedAt: at(m + 1),
          }),
        );
        if (m === 1)
          events.push(
            recorded(stream, revision++, 'AssistantReplyFailed', {
              conversationId,
              ownerId: owner,
              replyTo: question,
              reason: 'timeout',
              failedAt: at(m + 1),
            }),
          );
        else
          events.push(
            recorded(stream, revision++, 'AssistantReplied', {
              conversationId,
              ownerId: owner,
              messageId: randomUUID(),
              replyTo: question,
              content: await vault.seal(owner, `answer ${m}`),
              model: 'm',
              usage: { promptTokens: 10 + m, completionTokens: 5 },
              latencyMs: 50,
              partial: false,
              repliedAt: at(m + 1),
            }),
          );
      }
      if (c === 1)
        events.push(
          recorded(stream, revision++, 'ConversationArchived', { conversationId, ownerId: owner, archivedAt: at(6) }),
        );
    }
  }
  // Interleave the streams round-robin as the global log would, each stream in its own order.
  const streams = [...new Set(events.map((e) => e.streamId))].map((s) => events.filter((e) => e.streamId === s));
  const log: RecordedEvent[] = [];
  for (let i = 0; streams.some((s) => i < s.length); i++) for (const s of streams) if (s[i]) log.push(s[i]!);
  return log;
}

async function build(
  prefix: string,
  events: readonly RecordedEvent[],
  batches: RecordedEvent[][],
): Promise<Record<string, unknown[]>> {
  const projection = dialogProjection(vault);
  const table = (logical: string) => `${prefix}_${logical}`;
  await createTables(knex, projection, table);
  for (const batch of batches) await knex.transaction((trx) => projection.apply(batch, { trx, table }));
  const rows: Record<string, unknown[]> = {};
  rows.conversations = await knex(table('dialog_conversations')).select('*').orderBy('conversation_id');
  rows.messages = await knex(table('dialog_messages')).select('*').orderBy('message_id');
  rows.usage = await knex(table('dialog_usage')).select('*').orderBy(['owner_id', 'day']);
  return rows;
}

test('one batch equals one event at a time, and a replayed batch changes nothing', async (t) => {
  const events = await history();
  const oneByOne = await build(
    'single',
    events,
    events.map((e) => [e]),
  );
  const together = await build('batched', events, [[...events]]);
  t.deepEqual(together, oneByOne);
  const replayed = await build('replayed', events, [[...events], [...events], events.slice(3, 9)]);
  t.deepEqual(replayed, oneByOne);
  // The figures themselves: 9 questions and 6 replies; 3 conversations, one archived.
  t.is(oneByOne.messages!.length, 9 + 6);
  t.is(oneByOne.conversations!.length, 3);
  t.is(oneByOne.conversations!.filter((c) => (c as { archived_at: unknown }).archived_at !== null).length, 1);
  const usage = oneByOne.usage as { messages: number; prompt_tokens: number }[];
  t.is(
    usage.reduce((s, u) => s + u.messages, 0),
    9,
  );
  t.is(
    usage.reduce((s, u) => s + u.prompt_tokens, 0),
    3 * (10 + 12),
  );
  t.true(
    (oneByOne.messages as { content: string }[]).every((m) => /^(question|answer) \d$/.test(m.content)),
    'stored opened',
  );
});
