// The dialog command side. Posting a message is two steps, so the route can answer rule
// violations as plain errors before it decides how to deliver the reply (JSON or SSE):
//   1. ask():    checks (owner, length, conversation size, quota) and appends UserMessagePosted —
//                the question is stored before any provider is called;
//   2. answer(): asks the assistant and appends AssistantReplied (partial if the client left
//                mid-stream) or AssistantReplyFailed.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { eventMetadata } from '../../platform/eventstore/metadata.ts';
import {
  StreamConflictError,
  type EventStore,
  type ExpectedRevision,
  type Position,
} from '../../platform/eventstore/port.ts';
import type { Assistant } from './assistant.ts';
import { sealOrErased, type PersonalData, type PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { assertStorableEvent, storableText } from '../../platform/text.ts';
import { contextWithinBudget } from './context.ts';
import { decideConversation, DialogDomainError, type DialogCommand, type DialogLimits } from './decide.ts';
import {
  conversationStream,
  dialogEventSchemaVersions,
  isDialogEventType,
  MAX_FAILURE_REASON,
  MAX_MODEL_CHARS,
  MAX_REPLY_CHARS,
  MAX_TOKENS_PER_MESSAGE,
  parseDialogEvent,
  sealedFields,
  type DialogEvent,
  type Usage,
} from './events.ts';
import { evolveConversation, initialConversationState, type ConversationState } from './evolve.ts';
import { UpstreamError } from './provider.ts';
import * as queries from './queries.ts';

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

/** The event's data with its personal fields (sealedFields) sealed with the owner's key. */
async function sealed(keys: PersonalData, event: DialogEvent): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = { ...event.data };
  for (const field of sealedFields[event.type]) {
    const value = data[field];
    if (typeof value === 'string') data[field] = await sealOrErased(keys, event.data.ownerId, value);
  }
  return data;
}

export interface PostedQuestion {
  /** The conversation right after the question was appended (saves a reload for the reply). */
  readonly after: { readonly state: ConversationState; readonly expected: ExpectedRevision };
  readonly ownerId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly content: string;
  readonly createdAt: string;
  readonly cause: CommandCause;
  /** The conversation's newest messages before the question (read with the quota check). */
  readonly earlier: readonly queries.MessageView[];
}

export interface ReplyMessage {
  readonly id: string;
  readonly role: 'assistant';
  readonly content: string;
  readonly createdAt: string;
  readonly model: string;
  readonly usage: Usage;
  readonly partial: boolean;
}

export interface Exchange {
  readonly userMessage: { id: string; role: 'user'; content: string; createdAt: string };
  readonly assistantMessage: ReplyMessage;
}

/** The provider failed after retries: the question stays stored, the failure is recorded. */
export class ReplyFailedError extends Error {
  override readonly name = 'ReplyFailedError';
  readonly question: PostedQuestion;
  constructor(message: string, question: PostedQuestion) {
    super(message);
    this.question = question;
  }
}

export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** Newest messages read as context; the token budget (DIALOG_CONTEXT_TOKENS) then picks from them. */
const CONTEXT_MESSAGES = 50;

/** Text from the provider (untrusted) as an event may hold it: within `max`, no U+0000 or lone surrogate. */
const upstreamText = (text: string, max: number): string => storableText(text.slice(0, max));

/** A reply as the events and read models can hold it, whatever the provider sent. */
interface Reply {
  readonly content: string;
  readonly model: string;
  readonly usage: Usage | null;
}

function storableReply(content: string, model: string, usage: Usage | null): Reply {
  const tokens = (n: number) => Math.min(n, MAX_TOKENS_PER_MESSAGE);
  return {
    content: upstreamText(content, MAX_REPLY_CHARS),
    model: upstreamText(model, MAX_MODEL_CHARS),
    usage: usage && { promptTokens: tokens(usage.promptTokens), completionTokens: tokens(usage.completionTokens) },
  };
}

export function createDialogCommands(deps: DialogCommandDeps) {
  const { store, knex, assistant, limits } = deps;
  const now = deps.now ?? (() => new Date());

  async function load(conversationId: string): Promise<{ state: ConversationState; expected: ExpectedRevision }> {
    const events = await store.readStream(conversationStream(conversationId));
    let state = initialConversationState();
    for (const e of events)
      if (isDialogEventType(e.type)) state = evolveConversation(state, parseDialogEvent(e.type, e.data));
    const last = events.at(-1);
    return { state, expected: last === undefined ? 'no_stream' : last.revision };
  }

  interface Known {
    readonly state: ConversationState;
    readonly expected: ExpectedRevision;
  }

  /**
   * Decide and append (again on fresh state after a concurrent writer's conflict); waits for the
   * read model unless told not to. `known` skips the first load when the caller just appended.
   * Returns the state after the append, for a follow-up command.
   */
  async function run(
    conversationId: string,
    command: (state: ConversationState) => DialogCommand,
    cause: CommandCause,
    options: { wait?: boolean; known?: Known } = {},
  ): Promise<Known> {
    let known = options.known;
    for (let attempt = 1; ; attempt++) {
      const { state, expected } = known ?? (await load(conversationId));
      known = undefined;
      const decision = decideConversation(command(state), state);
      if (!decision.ok) throw new DialogDomainError(decision.error);
      try {
        const at = now();
        const keys = deps.vault.scope();
        const stored = await Promise.all(
          decision.events.map(async (e) => {
            // In depth: the plain text holds only what a read model can store, and the event as
            // appended (sealed) matches its schema; otherwise nothing is appended.
            const metadata = eventMetadata(cause, dialogEventSchemaVersions[e.type], at);
            assertStorableEvent(e.type, e.data, metadata);
            const data = await sealed(keys, e);
            parseDialogEvent(e.type, data);
            return { type: e.type, data, metadata };
          }),
        );
        const result = await store.append(conversationStream(conversationId), stored, { expectedRevision: expected });
        if (options.wait ?? true) await deps.waitForReadModel(result.position);
        return { state: decision.events.reduce(evolveConversation, state), expected: result.nextExpectedRevision };
      } catch (error) {
        if (!(error instanceof StreamConflictError) || attempt >= 10) throw error;
      }
    }
  }

  return {
    async start(
      ownerId: string,
      title: string,
      cause: CommandCause,
    ): Promise<{ id: string; title: string; createdAt: string }> {
      const conversationId = randomUUID();
      const at = now();
      await run(
        conversationId,
        () => ({ type: 'StartConversation', data: { conversationId, ownerId, title, now: at } }),
        cause,
      );
      return { id: conversationId, title: title.trim() || 'New conversation', createdAt: at.toISOString() };
    },

    async archive(ownerId: string, conversationId: string, cause: CommandCause): Promise<void> {
      await run(conversationId, () => ({ type: 'ArchiveConversation', data: { actorId: ownerId, now: now() } }), cause);
    },

    async quota(ownerId: string): Promise<{ today: queries.DayUsage; quota: { messages: number; tokens: number } }> {
      const today = await queries.usageOn(knex, ownerId, utcDay(now()));
      return { today, quota: { messages: limits.dailyMessages, tokens: limits.dailyTokens } };
    },

    async ask(ownerId: string, conversationId: string, content: string, cause: CommandCause): Promise<PostedQuestion> {
      // The quota, the context and the conversation in one go: one read-model round trip (the
      // question is not in the read model before the reply either way) beside the stream read.
      const [{ usage, messages: earlier }, loaded] = await Promise.all([
        queries.usageAndLastMessages(knex, ownerId, utcDay(now()), conversationId, CONTEXT_MESSAGES),
        load(conversationId),
      ]);
      const quota = {
        messages: usage.messages,
        tokens: usage.promptTokens + usage.completionTokens,
        maxMessages: limits.dailyMessages,
        maxTokens: limits.dailyTokens,
      };
      const messageId = randomUUID();
      const at = now();
      // No read-model wait here: the reply's wait (a later position) covers the question too.
      const after = await run(
        conversationId,
        () => ({ type: 'PostUserMessage', data: { actorId: ownerId, messageId, content, limits, quota, now: at } }),
        cause,
        { wait: false, known: loaded },
      );
      return {
        after,
        ownerId,
        conversationId,
        messageId,
        content: content.trim(),
        createdAt: at.toISOString(),
        cause,
        earlier,
      };
    },

    /**
     * Gets the reply and records it. `signal` aborts when the client goes away: what arrived is
     * stored as a partial reply. Throws ReplyFailedError when the provider failed.
     */
    async answer(
      question: PostedQuestion,
      options: { signal?: AbortSignal; onDelta?: (text: string) => void } = {},
    ): Promise<Exchange> {
      const earlier = question.earlier.filter((m) => m.id !== question.messageId);
      const history = contextWithinBudget(
        earlier.map((m) => ({ role: m.role, content: m.content })),
        question.content,
        limits.contextTokens,
      );
      const started = performance.now();
      let content: string;
      let model = assistant.model;
      let usage: Usage | null = null;
      let partial = false;
      try {
        const answer = await assistant.answer({
          ownerId: question.ownerId,
          question: question.content,
          history,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onDelta ? { onDelta: options.onDelta } : {}),
        });
        ({ content, model, usage } = answer);
      } catch (error) {
        const upstream = error instanceof UpstreamError ? error : undefined;
        if (options.signal?.aborted || upstream?.kind === 'aborted') {
          // The client left: keep what arrived, marked partial, so the conversation has no hole.
          content = upstream?.partialContent ?? '';
          partial = true;
        } else {
          const failure = upstream ? `${upstream.kind}: ${upstream.message}` : 'internal: the assistant failed';
          const reason = upstreamText(failure, MAX_FAILURE_REASON);
          await run(
            question.conversationId,
            () => ({ type: 'RecordFailure', data: { replyTo: question.messageId, reason, now: now() } }),
            question.cause,
            { known: question.after },
          );
          throw new ReplyFailedError(reason, question);
        }
      }
      ({ content, model, usage } = storableReply(content, model, usage));
      const latencyMs = Math.round(performance.now() - started);
      const messageId = randomUUID();
      const at = now();
      await run(
        question.conversationId,
        () => ({
          type: 'RecordReply',
          data: { messageId, replyTo: question.messageId, content, model, usage, latencyMs, partial, now: at },
        }),
        { ...question.cause, actorId: null, actorType: 'system' },
        { known: question.after },
      );
      return {
        userMessage: { id: question.messageId, role: 'user', content: question.content, createdAt: question.createdAt },
        assistantMessage: {
          id: messageId,
          role: 'assistant',
          content,
          createdAt: at.toISOString(),
          model,
          usage: usage ?? { promptTokens: 0, completionTokens: 0 },
          partial,
        },
      };
    },
  };
}

export type DialogCommands = ReturnType<typeof createDialogCommands>;
