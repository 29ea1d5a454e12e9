// The dialog command side, on the one command pipeline (platform/commands/handler.ts). Posting a
// message is two steps, so the route can answer rule violations as plain errors before it decides
// how to deliver the reply (JSON or SSE):
//   1. ask():    checks (owner, length, conversation size, quota) and appends UserMessagePosted —
//                the question is stored before any provider is called;
//   2. answer(): asks the assistant and records the reply or the failure (reply.ts).
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { sealFields, type PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { CommandHandler } from '../../platform/commands/handler.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import type { Assistant } from './assistant.ts';
import { conversationDecider, type DialogLimits } from './decide.ts';
import { conversationStream, dialogEvents, sealedFields, type DialogEvent } from './events.ts';
import * as queries from './queries.ts';
import { answerQuestion, type ConversationHandler, type PostedQuestion, type ReplyOptions } from './reply.ts';

export { ReplyFailedError, type Exchange, type PostedQuestion } from './reply.ts';

export interface DialogCommandDeps {
  readonly store: EventStore;
  readonly knex: Knex;
  readonly assistant: Assistant;
  /** Message text and titles are personal data: sealed with the owner's key (crypto-shredding). */
  readonly vault: PersonalDataVault;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  readonly limits: DialogLimits & {
    readonly contextTokens: number;
    readonly dailyMessages: number;
    readonly dailyTokens: number;
  };
  readonly now?: () => Date;
}

export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** Newest messages read as context; the token budget (DIALOG_CONTEXT_TOKENS) then picks from them. */
const CONTEXT_MESSAGES = 50;

/** The event with its personal fields (sealedFields) sealed with the owner's key. */
async function sealEvent(vault: PersonalDataVault, event: DialogEvent): Promise<DialogEvent> {
  const data = await sealFields(vault.scope(), event.data.ownerId, event.data, sealedFields[event.type]);
  return { ...event, data } as DialogEvent;
}

function conversationHandler(deps: DialogCommandDeps, now: () => Date): ConversationHandler {
  return new CommandHandler({ store: deps.store, waitForReadModels: deps.waitForReadModel, now }, conversationDecider, {
    ...dialogEvents,
    seal: (event) => sealEvent(deps.vault, event),
  });
}

export function createDialogCommands(deps: DialogCommandDeps) {
  const { knex, limits } = deps;
  const now = deps.now ?? (() => new Date());
  const conversations = conversationHandler(deps, now);
  const replies = { conversations, assistant: deps.assistant, contextTokens: limits.contextTokens, now };

  return {
    async start(ownerId: string, title: string, cause: CommandCause) {
      const conversationId = randomUUID();
      const at = now();
      const command = { type: 'StartConversation', data: { conversationId, ownerId, title, now: at } } as const;
      await conversations.handle(conversationStream(conversationId), command, cause);
      return { id: conversationId, title: title.trim() || 'New conversation', createdAt: at.toISOString() };
    },

    async archive(ownerId: string, conversationId: string, cause: CommandCause): Promise<void> {
      const command = { type: 'ArchiveConversation', data: { actorId: ownerId, now: now() } } as const;
      await conversations.handle(conversationStream(conversationId), command, cause);
    },

    async quota(ownerId: string): Promise<{ today: queries.DayUsage; quota: { messages: number; tokens: number } }> {
      const today = await queries.usageOn(knex, ownerId, utcDay(now()));
      return { today, quota: { messages: limits.dailyMessages, tokens: limits.dailyTokens } };
    },

    async ask(ownerId: string, conversationId: string, content: string, cause: CommandCause): Promise<PostedQuestion> {
      const stream = conversationStream(conversationId);
      // The quota, the context and the conversation in one go: one read-model round trip (the
      // question is not in the read model before the reply either way) beside the stream read.
      const [{ usage, messages: earlier }, loaded] = await Promise.all([
        queries.usageAndLastMessages(knex, ownerId, utcDay(now()), conversationId, CONTEXT_MESSAGES),
        conversations.load(stream),
      ]);
      const quota = {
        messages: usage.messages,
        tokens: usage.promptTokens + usage.completionTokens,
        maxMessages: limits.dailyMessages,
        maxTokens: limits.dailyTokens,
      };
      const messageId = randomUUID();
      const at = now();
      const command = {
        type: 'PostUserMessage',
        data: { actorId: ownerId, messageId, content, limits, quota, now: at },
      } as const;
      // No read-model wait here: the reply's wait (a later position) covers the question too.
      const after = await conversations.handle(stream, command, cause, { wait: false, known: loaded });
      const createdAt = at.toISOString();
      return { after, ownerId, conversationId, messageId, content: content.trim(), createdAt, cause, earlier };
    },

    /** Gets the reply and records it; throws ReplyFailedError when the provider failed. */
    answer: (question: PostedQuestion, options: ReplyOptions = {}) => answerQuestion(replies, question, options),
  };
}

export type DialogCommands = ReturnType<typeof createDialogCommands>;
