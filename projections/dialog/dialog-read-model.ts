// The dialog read model, per user under row-level security:
//   dialog_conversations  one row per conversation; lists by newest activity
//   dialog_messages       every message in conversation order (the stream revision)
//   dialog_usage          per owner and UTC day: messages posted and tokens spent (the quota)
// Text is stored as the events hold it; text they hold sealed (message content) is made storable
// when opened (U+0000 and lone surrogates become U+FFFD), so no event can stop the projection.
// Idempotent: messages insert once (their id), usage counts only rows that were inserted,
// conversation rows only move forward (version guard). A batch costs a few statements, not a
// few per event.
import type { Knex } from 'knex';
import { ownerPolicy } from '../../platform/database/owner-scope.ts';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { dialogEvents, type DialogEvent } from '../../modules/dialog/events.ts';
import { tableDdl, type Projection } from '../engine/index.ts';
import type { PersonalData, PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { storableJson, storableText } from '../../platform/text.ts';
import { identityEvents } from '../../modules/identity/events.ts';

export const dialogProjectionName = 'dialog';

const conversations = tableDdl(
  'conversation_id',
  `conversation_id  uuid NOT NULL,
  owner_id         uuid NOT NULL,
  title            text NOT NULL,
  created_at       timestamptz NOT NULL,
  last_activity_at timestamptz NOT NULL,
  archived_at      timestamptz,
  messages         integer NOT NULL DEFAULT 0,
  version          integer NOT NULL`,
  (t) =>
    `CREATE INDEX "${t}_by_activity" ON "${t}" (owner_id, last_activity_at DESC, conversation_id DESC) WHERE archived_at IS NULL`,
  ownerPolicy,
);

const messages = tableDdl(
  'message_id',
  `message_id        uuid NOT NULL,
  conversation_id   uuid NOT NULL,
  owner_id          uuid NOT NULL,
  seq               integer NOT NULL,
  role              text NOT NULL,
  content           text NOT NULL,
  model             text,
  prompt_tokens     integer,
  completion_tokens integer,
  partial           boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL`,
  (t) => `CREATE INDEX "${t}_by_conversation" ON "${t}" (conversation_id, seq)`,
  ownerPolicy,
);

const usage = tableDdl(
  'owner_id, day',
  `owner_id          uuid NOT NULL,
  day               date NOT NULL,
  messages          integer NOT NULL DEFAULT 0,
  prompt_tokens     integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0`,
  ownerPolicy,
);

type Table = (logical: string) => string;

interface MessageRow {
  message_id: string;
  conversation_id: string;
  owner_id: string;
  seq: number;
  role: 'user' | 'assistant';
  content: string;
  model: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  partial: boolean;
  created_at: string;
}

/** A conversation's row moves to `version` (only forward), at `at`, adding `messages`. */
interface Touch {
  conversationId: string;
  version: number;
  at: string;
  messages: number;
  archivedAt: string | null;
}

/** A question's or a reply's row; its seq is the event's revision in the conversation stream. */
async function messageRow(
  e: Extract<DialogEvent, { type: 'UserMessagePosted' | 'AssistantReplied' }>,
  seq: number,
  vault: PersonalData,
): Promise<MessageRow> {
  const d = e.data;
  const content = storableText(await vault.open(d.ownerId, d.content));
  const row = { message_id: d.messageId, conversation_id: d.conversationId, owner_id: d.ownerId, seq, content };
  if (e.type === 'UserMessagePosted') {
    const none = { model: null, prompt_tokens: null, completion_tokens: null, partial: false };
    return { ...row, role: 'user', ...none, created_at: e.data.postedAt };
  }
  const { usage } = e.data;
  return {
    ...row,
    role: 'assistant',
    model: e.data.model,
    prompt_tokens: usage?.promptTokens ?? null,
    completion_tokens: usage?.completionTokens ?? null,
    partial: e.data.partial,
    created_at: e.data.repliedAt,
  };
}

/**
 * A run of dialog events applied in one or two statements whatever its length (the runner is one
 * writer per projection; a round trip per event made it the bottleneck of every reply's
 * read-your-writes wait): new conversations, then new messages (RETURNING the ones really
 * inserted, so usage counts each once), the usage they add and every conversation's forward moves.
 */
async function applyRun(
  trx: Knex.Transaction,
  table: Table,
  run: readonly { event: DialogEvent; revision: number }[],
  vault: PersonalData,
): Promise<void> {
  const started: Record<string, unknown>[] = [];
  const messages: MessageRow[] = [];
  const touches: Touch[] = [];
  for (const { event: e, revision } of run) {
    const version = revision + 1;
    switch (e.type) {
      case 'ConversationStarted': {
        const d = e.data;
        started.push({
          conversation_id: d.conversationId,
          owner_id: d.ownerId,
          title: await vault.open(d.ownerId, d.title),
          created_at: d.startedAt,
          last_activity_at: d.startedAt,
          version,
        });
        break;
      }
      case 'UserMessagePosted':
      case 'AssistantReplied': {
        const row = await messageRow(e, revision, vault);
        messages.push(row);
        touches.push({
          conversationId: row.conversation_id,
          version,
          at: row.created_at,
          messages: 1,
          archivedAt: null,
        });
        break;
      }
      case 'AssistantReplyFailed':
        touches.push({
          conversationId: e.data.conversationId,
          version,
          at: e.data.failedAt,
          messages: 0,
          archivedAt: null,
        });
        break;
      case 'ConversationArchived':
        touches.push({
          conversationId: e.data.conversationId,
          version,
          at: e.data.archivedAt,
          messages: 0,
          archivedAt: e.data.archivedAt,
        });
        break;
    }
  }
  // New conversations first (their own statement: the moves below must see them), then the
  // messages, the usage they add and the conversations' moves as ONE statement — a reply's
  // read-your-writes wait pays for every round trip here.
  if (started.length > 0) {
    await trx(table('dialog_conversations')).insert(started.map(storableRow)).onConflict('conversation_id').ignore();
  }
  const parts: { sql: string; bindings: string[] }[] = [];
  if (messages.length > 0) {
    parts.push({
      sql: `inserted AS (
        INSERT INTO "${table('dialog_messages')}" (${MESSAGE_COLUMNS.join(', ')})
        SELECT ${MESSAGE_COLUMNS.join(', ')} FROM json_to_recordset(?::json) AS x(${MESSAGE_RECORD})
        ON CONFLICT (message_id) DO NOTHING
        RETURNING owner_id, role, created_at, prompt_tokens, completion_tokens
      ), added AS (
        -- Usage per owner and UTC day from the messages really inserted now (a replayed one counts nothing).
        SELECT owner_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) FILTER (WHERE role = 'user') AS messages,
               LEAST(coalesce(sum(prompt_tokens) FILTER (WHERE role = 'assistant'), 0), ${MAX_INT})
                 AS prompt_tokens,
               LEAST(coalesce(sum(completion_tokens) FILTER (WHERE role = 'assistant'), 0), ${MAX_INT})
                 AS completion_tokens
        FROM inserted WHERE role = 'user' OR prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL
        GROUP BY 1, 2
      ), counted AS (
        INSERT INTO "${table('dialog_usage')}" AS u (owner_id, day, messages, prompt_tokens, completion_tokens)
        SELECT owner_id, day, messages, prompt_tokens, completion_tokens FROM added
        ON CONFLICT (owner_id, day) DO UPDATE SET messages = u.messages + EXCLUDED.messages,
          prompt_tokens = LEAST(u.prompt_tokens::bigint + EXCLUDED.prompt_tokens, ${MAX_INT}),
          completion_tokens = LEAST(u.completion_tokens::bigint + EXCLUDED.completion_tokens, ${MAX_INT})
      )`,
      bindings: [storableJson(messages)],
    });
  }
  if (touches.length > 0) parts.push(moveConversations(table('dialog_conversations'), touches));
  if (parts.length > 0)
    await trx.raw(
      `WITH ${parts.map((part) => part.sql).join(', ')} SELECT 1`,
      parts.flatMap((part) => part.bindings),
    );
}

/** Token counts are integer columns: a day's sum stops at the largest one (the quota is long used up by then). */
const MAX_INT = 2 ** 31 - 1;

/** A row's text columns as PostgreSQL can store them (a title from an event this code did not write). */
const storableRow = (row: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? storableText(v) : v]));

const MESSAGE_COLUMNS = [
  'message_id',
  'conversation_id',
  'owner_id',
  'seq',
  'role',
  'content',
  'model',
  'prompt_tokens',
  'completion_tokens',
  'partial',
  'created_at',
] as const;
const MESSAGE_RECORD =
  'message_id uuid, conversation_id uuid, owner_id uuid, seq integer, role text, content text, model text, prompt_tokens integer, completion_tokens integer, partial boolean, created_at timestamptz';

/**
 * Every conversation moves forward once: only the moves newer than its row's version count (a
 * replayed event is already in the row), the newest of those gives the activity time and version.
 * A part of the batch's one statement (CTEs).
 */
function moveConversations(conversationsTable: string, touches: readonly Touch[]): { sql: string; bindings: string[] } {
  return {
    sql: `moves AS (
       SELECT * FROM json_to_recordset(?::json) AS m(conversation_id uuid, version integer, at timestamptz, messages integer, archived_at timestamptz)
     ), newer AS (
       SELECT m.conversation_id, max(m.version) AS version, sum(m.messages) AS messages,
              (array_agg(m.at ORDER BY m.version DESC))[1] AS at,
              (array_agg(m.archived_at ORDER BY m.version DESC) FILTER (WHERE m.archived_at IS NOT NULL))[1] AS archived_at
       FROM moves m JOIN "${conversationsTable}" c ON c.conversation_id = m.conversation_id AND m.version > c.version
       GROUP BY m.conversation_id
     ), moved AS (
       UPDATE "${conversationsTable}" c SET last_activity_at = n.at, messages = c.messages + n.messages, version = n.version,
         archived_at = COALESCE(n.archived_at, c.archived_at)
       FROM newer n WHERE c.conversation_id = n.conversation_id
     )`,
    bindings: [
      JSON.stringify(
        touches.map((t) => ({
          conversation_id: t.conversationId,
          version: t.version,
          at: t.at,
          messages: t.messages,
          archived_at: t.archivedAt,
        })),
      ),
    ],
  };
}

export const dialogProjection = (vault: PersonalDataVault): Projection => ({
  name: dialogProjectionName,
  version: 1,
  eventTypes: [...dialogEvents.types, 'UserErased'],
  tables: { dialog_conversations: conversations, dialog_messages: messages, dialog_usage: usage },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    // Runs of dialog events are applied together; an erasure is applied in its place between runs.
    const keys = vault.scope(); // each owner's key read once per batch, never kept beyond it
    let run: { event: DialogEvent; revision: number }[] = [];
    for (const event of events) {
      if (dialogEvents.isType(event.type))
        run.push({ event: dialogEvents.parse(event.type, event.data), revision: event.revision });
      else if (event.type === 'UserErased') {
        await applyRun(trx, table, run, keys);
        run = [];
        // Erasure: the user's conversations leave the read model (their events stay, text shredded).
        const { userId } = identityEvents.parse('UserErased', event.data).data as { userId: string };
        for (const t of ['dialog_messages', 'dialog_conversations', 'dialog_usage'])
          await trx(table(t)).where('owner_id', userId).delete();
      }
    }
    await applyRun(trx, table, run, keys);
  },
});
