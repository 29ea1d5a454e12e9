// The dialog read model, per user under row-level security:
//   dialog_conversations  one row per conversation; lists by newest activity
//   dialog_messages       every message in conversation order (the stream revision)
//   dialog_usage          per owner and UTC day: messages posted and tokens spent (the quota)
// Idempotent: messages insert once (their id), usage counts only rows that were inserted,
// conversation rows only move forward (version guard).
import type { Knex } from 'knex';
import { ownerPolicy } from '../../platform/database/owner-scope.ts';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { dialogEventTypes, isDialogEventType, parseDialogEvent, type DialogEvent } from '../../modules/dialog/events.ts';
import type { Projection } from '../engine/index.ts';
import type { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { parseIdentityEvent } from '../../modules/identity/events.ts';

export const dialogProjectionName = 'dialog';

const conversations = (t: string) => `CREATE TABLE "${t}" (
  conversation_id  uuid CONSTRAINT "${t}_pkey" PRIMARY KEY,
  owner_id         uuid NOT NULL,
  title            text NOT NULL,
  created_at       timestamptz NOT NULL,
  last_activity_at timestamptz NOT NULL,
  archived_at      timestamptz,
  messages         integer NOT NULL DEFAULT 0,
  version          integer NOT NULL);
CREATE INDEX "${t}_by_activity" ON "${t}" (owner_id, last_activity_at DESC, conversation_id DESC) WHERE archived_at IS NULL;
${ownerPolicy(t)}`;

const messages = (t: string) => `CREATE TABLE "${t}" (
  message_id        uuid CONSTRAINT "${t}_pkey" PRIMARY KEY,
  conversation_id   uuid NOT NULL,
  owner_id          uuid NOT NULL,
  seq               integer NOT NULL,
  role              text NOT NULL,
  content           text NOT NULL,
  model             text,
  prompt_tokens     integer,
  completion_tokens integer,
  partial           boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL);
CREATE INDEX "${t}_by_conversation" ON "${t}" (conversation_id, seq);
${ownerPolicy(t)}`;

const usage = (t: string) => `CREATE TABLE "${t}" (
  owner_id          uuid NOT NULL,
  day               date NOT NULL,
  messages          integer NOT NULL DEFAULT 0,
  prompt_tokens     integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  CONSTRAINT "${t}_pkey" PRIMARY KEY (owner_id, day));
${ownerPolicy(t)}`;

type Table = (logical: string) => string;

async function touch(trx: Knex.Transaction, table: Table, conversationId: string, version: number, at: string, addMessages: number, extra: Record<string, unknown> = {}): Promise<void> {
  await trx(table('dialog_conversations'))
    .where('conversation_id', conversationId)
    .andWhere('version', '<', version)
    .update({ ...extra, last_activity_at: at, messages: trx.raw('messages + ?', [addMessages]), version });
}

async function addUsage(trx: Knex.Transaction, table: Table, ownerId: string, at: string, messagesDelta: number, prompt: number, completion: number): Promise<void> {
  const t = table('dialog_usage');
  await trx.raw(
    `INSERT INTO "${t}" AS u (owner_id, day, messages, prompt_tokens, completion_tokens) VALUES (?::uuid, (?::timestamptz AT TIME ZONE 'UTC')::date, ?, ?, ?)
     ON CONFLICT (owner_id, day) DO UPDATE SET messages = u.messages + EXCLUDED.messages,
       prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens, completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens`,
    [ownerId, at, messagesDelta, prompt, completion],
  );
}

async function applyOne(trx: Knex.Transaction, table: Table, e: DialogEvent, revision: number, vault: PersonalDataVault): Promise<void> {
  const version = revision + 1;
  switch (e.type) {
    case 'ConversationStarted': {
      const d = e.data;
      await trx(table('dialog_conversations'))
        .insert({ conversation_id: d.conversationId, owner_id: d.ownerId, title: d.title, created_at: d.startedAt, last_activity_at: d.startedAt, version })
        .onConflict('conversation_id')
        .ignore();
      return;
    }
    case 'UserMessagePosted': {
      const d = e.data;
      const inserted = await trx(table('dialog_messages'))
        .insert({ message_id: d.messageId, conversation_id: d.conversationId, owner_id: d.ownerId, seq: revision, role: 'user', content: await vault.open(d.ownerId, d.content), created_at: d.postedAt })
        .onConflict('message_id')
        .ignore()
        .returning('message_id');
      await touch(trx, table, d.conversationId, version, d.postedAt, 1);
      if (inserted.length > 0) await addUsage(trx, table, d.ownerId, d.postedAt, 1, 0, 0);
      return;
    }
    case 'AssistantReplied': {
      const d = e.data;
      const inserted = await trx(table('dialog_messages'))
        .insert({
          message_id: d.messageId,
          conversation_id: d.conversationId,
          owner_id: d.ownerId,
          seq: revision,
          role: 'assistant',
          content: await vault.open(d.ownerId, d.content),
          model: d.model,
          prompt_tokens: d.usage?.promptTokens ?? null,
          completion_tokens: d.usage?.completionTokens ?? null,
          partial: d.partial,
          created_at: d.repliedAt,
        })
        .onConflict('message_id')
        .ignore()
        .returning('message_id');
      await touch(trx, table, d.conversationId, version, d.repliedAt, 1);
      if (inserted.length > 0 && d.usage) await addUsage(trx, table, d.ownerId, d.repliedAt, 0, d.usage.promptTokens, d.usage.completionTokens);
      return;
    }
    case 'AssistantReplyFailed':
      await touch(trx, table, e.data.conversationId, version, e.data.failedAt, 0);
      return;
    case 'ConversationArchived':
      await touch(trx, table, e.data.conversationId, version, e.data.archivedAt, 0, { archived_at: e.data.archivedAt });
      return;
  }
}

export const dialogProjection = (vault: PersonalDataVault): Projection => ({
  name: dialogProjectionName,
  version: 1,
  eventTypes: [...dialogEventTypes, 'UserErased'],
  tables: { dialog_conversations: conversations, dialog_messages: messages, dialog_usage: usage },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    for (const event of events) {
      if (isDialogEventType(event.type)) await applyOne(trx, table, parseDialogEvent(event.type, event.data), event.revision, vault);
      else if (event.type === 'UserErased') {
        // Erasure: the user's conversations leave the read model (their events stay, text shredded).
        const { userId } = parseIdentityEvent('UserErased', event.data).data as { userId: string };
        for (const t of ['dialog_messages', 'dialog_conversations', 'dialog_usage']) await trx(table(t)).where('owner_id', userId).delete();
      }
    }
  },
});
