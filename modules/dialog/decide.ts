// Pure decider of a conversation. A conversation belongs to its owner: anyone else gets
// not_found. The user's message is its own event, appended before the provider is asked, so a
// failing provider never loses a question.
import { accept, refuse, type Decision } from '../../platform/commands/decision.ts';
import type { Decider } from '../../platform/commands/handler.ts';
import type { DialogEvent, Usage } from './events.ts';
import { evolveConversation, initialConversationState, type ConversationState } from './evolve.ts';

export interface DialogLimits {
  readonly maxMessageChars: number;
  readonly maxMessagesPerConversation: number;
}

/** What the user has spent today (from the usage read model) against the daily quota. */
export interface QuotaStanding {
  readonly messages: number;
  readonly tokens: number;
  readonly maxMessages: number;
  readonly maxTokens: number;
}

export interface StartConversation {
  readonly type: 'StartConversation';
  readonly data: { conversationId: string; ownerId: string; title: string; now: Date };
}

export interface PostUserMessage {
  readonly type: 'PostUserMessage';
  readonly data: {
    actorId: string;
    messageId: string;
    content: string;
    limits: DialogLimits;
    quota: QuotaStanding;
    now: Date;
  };
}

export interface RecordReply {
  readonly type: 'RecordReply';
  readonly data: {
    messageId: string;
    replyTo: string;
    content: string;
    model: string;
    usage: Usage | null;
    latencyMs: number;
    partial: boolean;
    now: Date;
  };
}

export interface RecordFailure {
  readonly type: 'RecordFailure';
  readonly data: { replyTo: string; reason: string; now: Date };
}

export interface ArchiveConversation {
  readonly type: 'ArchiveConversation';
  readonly data: { actorId: string; now: Date };
}

export type DialogCommand = StartConversation | PostUserMessage | RecordReply | RecordFailure | ArchiveConversation;

type DialogDecision = Decision<DialogEvent>;

const notFound = (): DialogDecision => refuse({ code: 'not_found', message: 'conversation not found' });
const noQuestion = (): DialogDecision => refuse({ code: 'conflict', message: 'no question waits for this reply' });
const invalid = (message: string, path: string, problem: string): DialogDecision =>
  refuse({ code: 'validation_failed', message, errors: [{ path, message: problem }] });

export function decideConversation(command: DialogCommand, state: ConversationState): DialogDecision {
  switch (command.type) {
    case 'StartConversation':
      return start(command.data, state);
    case 'PostUserMessage':
      return post(command.data, state);
    case 'RecordReply':
      return reply(command.data, state);
    case 'RecordFailure':
      return failure(command.data, state);
    case 'ArchiveConversation':
      return archive(command.data, state);
  }
}

function start(c: StartConversation['data'], state: ConversationState): DialogDecision {
  if (state.kind !== 'none') return refuse({ code: 'conflict', message: 'conversation already exists' });
  const title = c.title.trim();
  if (title.length > 200) return invalid('the title is too long', 'title', 'at most 200 characters');
  return accept({
    type: 'ConversationStarted',
    data: {
      conversationId: c.conversationId,
      ownerId: c.ownerId,
      title: title || 'New conversation',
      startedAt: c.now.toISOString(),
    },
  });
}

function post(c: PostUserMessage['data'], state: ConversationState): DialogDecision {
  if (state.kind !== 'open' || state.ownerId !== c.actorId) return notFound();
  const content = c.content.trim();
  if (content.length === 0) return invalid('the message is empty', 'content', 'must not be empty');
  if (content.length > c.limits.maxMessageChars)
    return invalid('the message is too long', 'content', `at most ${c.limits.maxMessageChars} characters`);
  if (state.messages + 2 > c.limits.maxMessagesPerConversation) {
    const message = `a conversation holds at most ${c.limits.maxMessagesPerConversation} messages: start a new one`;
    return refuse({ code: 'conversation_full', message, status: 422 });
  }
  if (c.quota.messages >= c.quota.maxMessages || c.quota.tokens >= c.quota.maxTokens) return quotaExceeded(c);
  return accept({
    type: 'UserMessagePosted',
    data: {
      conversationId: state.conversationId,
      ownerId: state.ownerId,
      messageId: c.messageId,
      content,
      postedAt: c.now.toISOString(),
    },
  });
}

/** A used-up daily quota answers like a rate limit: Retry-After and X-RateLimit-* up to midnight UTC. */
function quotaExceeded(c: PostUserMessage['data']): DialogDecision {
  const midnight = new Date(c.now);
  midnight.setUTCHours(24, 0, 0, 0);
  const headers = {
    'Retry-After': String(Math.max(1, Math.ceil((midnight.getTime() - c.now.getTime()) / 1000))),
    'X-RateLimit-Limit': String(c.quota.maxMessages),
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': String(midnight.getTime() / 1000),
  };
  const message = 'the daily quota of messages or tokens is used up';
  return refuse({ code: 'quota_exceeded', message, status: 429, headers });
}

function reply(c: RecordReply['data'], state: ConversationState): DialogDecision {
  if (state.kind === 'none' || !state.awaitingReply.includes(c.replyTo)) return noQuestion();
  return accept({
    type: 'AssistantReplied',
    data: {
      conversationId: state.conversationId,
      ownerId: state.ownerId,
      messageId: c.messageId,
      replyTo: c.replyTo,
      content: c.content,
      model: c.model,
      usage: c.usage,
      latencyMs: c.latencyMs,
      partial: c.partial,
      repliedAt: c.now.toISOString(),
    },
  });
}

function failure(c: RecordFailure['data'], state: ConversationState): DialogDecision {
  if (state.kind === 'none' || !state.awaitingReply.includes(c.replyTo)) return noQuestion();
  return accept({
    type: 'AssistantReplyFailed',
    data: {
      conversationId: state.conversationId,
      ownerId: state.ownerId,
      replyTo: c.replyTo,
      reason: c.reason.slice(0, 500),
      failedAt: c.now.toISOString(),
    },
  });
}

function archive(c: ArchiveConversation['data'], state: ConversationState): DialogDecision {
  if (state.kind !== 'open' || state.ownerId !== c.actorId) return notFound();
  return accept({
    type: 'ConversationArchived',
    data: { conversationId: state.conversationId, ownerId: state.ownerId, archivedAt: c.now.toISOString() },
  });
}

export const conversationDecider: Decider<DialogCommand, ConversationState, DialogEvent> = {
  decide: decideConversation,
  evolve: evolveConversation,
  initialState: initialConversationState,
};
