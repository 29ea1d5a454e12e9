// Reads of the dialog read model (projections/dialog/dialog-read-model.ts), as the caller under
// row-level security and filtered by owner.
import type { Knex } from 'knex';
import { queryAsOwner } from '../../platform/database/owner-scope.ts';
import type { Usage } from './events.ts';

export interface ConversationView {
  readonly id: string;
  readonly title: string;
  readonly createdAt: string;
  readonly lastActivityAt: string;
  readonly messages: number;
}

export interface MessageView {
  readonly id: string;
  readonly role: 'user' | 'assistant';
  readonly content: string;
  readonly createdAt: string;
  readonly model?: string;
  readonly usage?: Usage;
  readonly partial?: boolean;
}

interface ConversationRow {
  conversation_id: string;
  title: string;
  created_at: Date;
  last_activity_at: Date;
  messages: number;
}
interface MessageRow {
  message_id: string;
  seq: number;
  role: 'user' | 'assistant';
  content: string;
  model: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  partial: boolean;
  created_at: Date;
}

const conversationView = (r: ConversationRow): ConversationView => ({
  id: r.conversation_id,
  title: r.title,
  createdAt: r.created_at.toISOString(),
  lastActivityAt: r.last_activity_at.toISOString(),
  messages: r.messages,
});

export const messageView = (r: MessageRow): MessageView =>
  r.role === 'user'
    ? { id: r.message_id, role: 'user', content: r.content, createdAt: r.created_at.toISOString() }
    : {
        id: r.message_id,
        role: 'assistant',
        content: r.content,
        createdAt: r.created_at.toISOString(),
        model: r.model ?? '',
        usage: { promptTokens: r.prompt_tokens ?? 0, completionTokens: r.completion_tokens ?? 0 },
        partial: r.partial,
      };

export async function listConversations(
  knex: Knex,
  ownerId: string,
  page: { limit: number; after?: { at: string; id: string } | undefined },
): Promise<{ rows: ConversationView[]; total: number }> {
  const params: (string | number)[] = [ownerId];
  let keyset = '';
  if (page.after) {
    params.push(page.after.at, page.after.id);
    keyset = ' AND (last_activity_at, conversation_id) < ($2::timestamptz, $3::uuid)';
  }
  params.push(page.limit + 1);
  const [rows, count] = await queryAsOwner<[ConversationRow[], { total: number }[]]>(knex, ownerId, [
    {
      sql: `SELECT conversation_id, title, created_at, last_activity_at, messages FROM dialog_conversations
             WHERE owner_id = $1::uuid AND archived_at IS NULL${keyset} ORDER BY last_activity_at DESC, conversation_id DESC LIMIT $${params.length}`,
      params,
    },
    {
      sql: 'SELECT count(*)::int AS total FROM dialog_conversations WHERE owner_id = $1::uuid AND archived_at IS NULL',
      params: [ownerId],
    },
  ]);
  return { rows: rows.map(conversationView), total: count[0]?.total ?? 0 };
}

/** The conversation if it is the caller's and not archived. */
export async function findConversation(
  knex: Knex,
  ownerId: string,
  conversationId: string,
): Promise<ConversationView | undefined> {
  const [rows] = await queryAsOwner<[ConversationRow[]]>(knex, ownerId, [
    {
      sql: 'SELECT conversation_id, title, created_at, last_activity_at, messages FROM dialog_conversations WHERE owner_id = $1::uuid AND conversation_id = $2::uuid AND archived_at IS NULL',
      params: [ownerId, conversationId],
    },
  ]);
  return rows[0] ? conversationView(rows[0]) : undefined;
}

const messageColumns = 'message_id, seq, role, content, model, prompt_tokens, completion_tokens, partial, created_at';

/** Oldest first, keyset on the message's place in the conversation. */
export async function listMessages(
  knex: Knex,
  ownerId: string,
  conversationId: string,
  page: { limit: number; afterSeq?: number | undefined },
): Promise<{ rows: (MessageView & { seq: number })[]; total: number }> {
  const [rows, count] = await queryAsOwner<[MessageRow[], { total: number }[]]>(knex, ownerId, [
    {
      sql: `SELECT ${messageColumns} FROM dialog_messages WHERE owner_id = $1::uuid AND conversation_id = $2::uuid AND seq > $3 ORDER BY seq LIMIT $4`,
      params: [ownerId, conversationId, page.afterSeq ?? -1, page.limit + 1],
    },
    {
      sql: 'SELECT count(*)::int AS total FROM dialog_messages WHERE owner_id = $1::uuid AND conversation_id = $2::uuid',
      params: [ownerId, conversationId],
    },
  ]);
  return { rows: rows.map((r) => ({ ...messageView(r), seq: r.seq })), total: count[0]?.total ?? 0 };
}

const lastMessagesStatement = (ownerId: string, conversationId: string, limit: number) => ({
  sql: `SELECT ${messageColumns} FROM dialog_messages WHERE owner_id = $1::uuid AND conversation_id = $2::uuid ORDER BY seq DESC LIMIT $3`,
  params: [ownerId, conversationId, limit],
});

const usageStatement = (ownerId: string, day: string) => ({
  sql: 'SELECT messages, prompt_tokens, completion_tokens FROM dialog_usage WHERE owner_id = $1::uuid AND day = $2::date',
  params: [ownerId, day],
});

type UsageRow = { messages: number; prompt_tokens: number; completion_tokens: number };
const dayUsage = (r: UsageRow | undefined): DayUsage => ({
  messages: r?.messages ?? 0,
  promptTokens: r?.prompt_tokens ?? 0,
  completionTokens: r?.completion_tokens ?? 0,
});

/**
 * What a new question needs from the read models in one round trip: today's usage (the quota)
 * and the conversation's newest messages, oldest first (the context it goes with).
 */
export async function usageAndLastMessages(
  knex: Knex,
  ownerId: string,
  day: string,
  conversationId: string,
  limit: number,
): Promise<{ usage: DayUsage; messages: MessageView[] }> {
  const [usage, rows] = await queryAsOwner<[UsageRow[], MessageRow[]]>(knex, ownerId, [
    usageStatement(ownerId, day),
    lastMessagesStatement(ownerId, conversationId, limit),
  ]);
  return { usage: dayUsage(usage[0]), messages: rows.reverse().map(messageView) };
}

export interface DayUsage {
  readonly messages: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export async function usageOn(knex: Knex, ownerId: string, day: string): Promise<DayUsage> {
  const [rows] = await queryAsOwner<[UsageRow[]]>(knex, ownerId, [usageStatement(ownerId, day)]);
  return dayUsage(rows[0]);
}
