// The second step of posting a message: ask the assistant, then record AssistantReplied (partial
// if the client left mid-stream) or AssistantReplyFailed. The question is already stored (ask()).
import { randomUUID } from 'node:crypto';
import type { CommandHandler, Loaded } from '../../platform/commands/handler.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { storableText } from '../../platform/text.ts';
import type { Assistant } from './assistant.ts';
import { contextWithinBudget } from './context.ts';
import type { DialogCommand } from './decide.ts';
import {
  conversationStream,
  MAX_FAILURE_REASON,
  MAX_MODEL_CHARS,
  MAX_REPLY_CHARS,
  MAX_TOKENS_PER_MESSAGE,
  type DialogEvent,
  type Usage,
} from './events.ts';
import type { ConversationState } from './evolve.ts';
import { UpstreamError } from './provider.ts';
import type { MessageView } from './queries.ts';

export type ConversationHandler = CommandHandler<DialogCommand, ConversationState, DialogEvent>;

export interface PostedQuestion {
  /** The conversation right after the question was appended (saves a reload for the reply). */
  readonly after: Loaded<ConversationState>;
  readonly ownerId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly content: string;
  readonly createdAt: string;
  readonly cause: CommandCause;
  /** The conversation's newest messages before the question (read with the quota check). */
  readonly earlier: readonly MessageView[];
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

export interface ReplyDeps {
  readonly conversations: ConversationHandler;
  readonly assistant: Assistant;
  readonly contextTokens: number;
  readonly now: () => Date;
}

export interface ReplyOptions {
  /** Aborts when the client goes away: what arrived is stored as a partial reply. */
  readonly signal?: AbortSignal;
  readonly onDelta?: (text: string) => void;
}

/** A reply as the events and read models can hold it, whatever the provider sent. */
interface Reply {
  readonly content: string;
  readonly model: string;
  readonly usage: Usage | null;
  readonly partial: boolean;
}

/** Text from the provider (untrusted) as an event may hold it: within `max`, no U+0000 or lone surrogate. */
const upstreamText = (text: string, max: number): string => storableText(text.slice(0, max));

function storableReply({ content, model, usage, partial }: Reply): Reply {
  const tokens = (n: number) => Math.min(n, MAX_TOKENS_PER_MESSAGE);
  return {
    content: upstreamText(content, MAX_REPLY_CHARS),
    model: upstreamText(model, MAX_MODEL_CHARS),
    usage: usage && { promptTokens: tokens(usage.promptTokens), completionTokens: tokens(usage.completionTokens) },
    partial,
  };
}

/** Gets the reply and records it. Throws ReplyFailedError when the provider failed. */
export async function answerQuestion(
  deps: ReplyDeps,
  question: PostedQuestion,
  options: ReplyOptions = {},
): Promise<Exchange> {
  const started = performance.now();
  const reply = storableReply(await askAssistant(deps, question, options));
  const latencyMs = Math.round(performance.now() - started);
  const messageId = randomUUID();
  const at = deps.now();
  const command = {
    type: 'RecordReply',
    data: { ...reply, messageId, replyTo: question.messageId, latencyMs, now: at },
  } as const;
  const systemCause: CommandCause = { ...question.cause, actorId: null, actorType: 'system' };
  await deps.conversations.handle(conversationStream(question.conversationId), command, systemCause, {
    known: question.after,
  });
  return {
    userMessage: { id: question.messageId, role: 'user', content: question.content, createdAt: question.createdAt },
    assistantMessage: {
      id: messageId,
      role: 'assistant',
      content: reply.content,
      createdAt: at.toISOString(),
      model: reply.model,
      usage: reply.usage ?? { promptTokens: 0, completionTokens: 0 },
      partial: reply.partial,
    },
  };
}

/** The assistant's reply; what arrived when the client left; or the failure recorded and thrown. */
async function askAssistant(deps: ReplyDeps, question: PostedQuestion, options: ReplyOptions): Promise<Reply> {
  const earlier = question.earlier.filter((m) => m.id !== question.messageId);
  const history = contextWithinBudget(
    earlier.map((m) => ({ role: m.role, content: m.content })),
    question.content,
    deps.contextTokens,
  );
  try {
    const answer = await deps.assistant.answer({
      ownerId: question.ownerId,
      question: question.content,
      history,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onDelta ? { onDelta: options.onDelta } : {}),
    });
    return { content: answer.content, model: answer.model, usage: answer.usage, partial: false };
  } catch (error) {
    const upstream = error instanceof UpstreamError ? error : undefined;
    // The client left: keep what arrived, marked partial, so the conversation has no hole.
    if (options.signal?.aborted || upstream?.kind === 'aborted')
      return { content: upstream?.partialContent ?? '', model: deps.assistant.model, usage: null, partial: true };
    const failure = upstream ? `${upstream.kind}: ${upstream.message}` : 'internal: the assistant failed';
    const reason = upstreamText(failure, MAX_FAILURE_REASON);
    const command = { type: 'RecordFailure', data: { replyTo: question.messageId, reason, now: deps.now() } } as const;
    await deps.conversations.handle(conversationStream(question.conversationId), command, question.cause, {
      known: question.after,
    });
    throw new ReplyFailedError(reason, question);
  }
}
