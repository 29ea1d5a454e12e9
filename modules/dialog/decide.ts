// Pure decider of a conversation. A conversation belongs to its owner: anyone else gets
// not_found. The user's message is its own event, appended before the provider is asked, so a
// failing provider never loses a question.
import type { DialogEvent, Usage } from './events.ts';
import { evolveConversation, initialConversationState, type ConversationState } from './evolve.ts';

export type DialogErrorCode = 'validation_failed' | 'not_found' | 'conversation_full' | 'quota_exceeded' | 'conflict';
export const dialogErrorStatus: Readonly<Record<DialogErrorCode, number>> = {
  validation_failed: 422,
  not_found: 404,
  conversation_full: 422,
  quota_exceeded: 429,
  conflict: 409,
};

export interface DialogError {
  readonly code: DialogErrorCode;
  readonly message: string;
  readonly errors?: readonly { path: string; message: string }[];
}

export type Decision =
  { readonly ok: true; readonly events: readonly DialogEvent[] } | { readonly ok: false; readonly error: DialogError };

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

export type DialogCommand =
  | {
      readonly type: 'StartConversation';
      readonly data: { conversationId: string; ownerId: string; title: string; now: Date };
    }
  | {
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
  | {
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
  | { readonly type: 'RecordFailure'; readonly data: { replyTo: string; reason: string; now: Date } }
  | { readonly type: 'ArchiveConversation'; readonly data: { actorId: string; now: Date } };

const refuse = (code: DialogErrorCode, message: string, errors?: DialogError['errors']): Decision => ({
  ok: false,
  error: errors ? { code, message, errors } : { code, message },
});
const accept = (...events: DialogEvent[]): Decision => ({ ok: true, events });

export function decideConversation(command: DialogCommand, state: ConversationState): Decision {
  const at = command.data.now.toISOString();
  switch (command.type) {
    case 'StartConversation': {
      const c = command.data;
      if (state.kind !== 'none') return refuse('conflict', 'conversation already exists');
      const title = c.title.trim();
      if (title.length > 200)
        return refuse('validation_failed', 'the title is too long', [
          { path: 'title', message: 'at most 200 characters' },
        ]);
      return accept({
        type: 'ConversationStarted',
        data: {
          conversationId: c.conversationId,
          ownerId: c.ownerId,
          title: title || 'New conversation',
          startedAt: at,
        },
      });
    }
    case 'PostUserMessage': {
      const c = command.data;
      if (state.kind !== 'open' || state.ownerId !== c.actorId) return refuse('not_found', 'conversation not found');
      const content = c.content.trim();
      if (content.length === 0)
        return refuse('validation_failed', 'the message is empty', [{ path: 'content', message: 'must not be empty' }]);
      if (content.length > c.limits.maxMessageChars) {
        return refuse('validation_failed', 'the message is too long', [
          { path: 'content', message: `at most ${c.limits.maxMessageChars} characters` },
        ]);
      }
      if (state.messages + 2 > c.limits.maxMessagesPerConversation) {
        return refuse(
          'conversation_full',
          `a conversation holds at most ${c.limits.maxMessagesPerConversation} messages: start a new one`,
        );
      }
      if (c.quota.messages >= c.quota.maxMessages || c.quota.tokens >= c.quota.maxTokens)
        return refuse('quota_exceeded', 'the daily quota of messages or tokens is used up');
      return accept({
        type: 'UserMessagePosted',
        data: {
          conversationId: state.conversationId,
          ownerId: state.ownerId,
          messageId: c.messageId,
          content,
          postedAt: at,
        },
      });
    }
    case 'RecordReply': {
      const c = command.data;
      if (state.kind === 'none' || !state.awaitingReply.includes(c.replyTo))
        return refuse('conflict', 'no question waits for this reply');
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
          repliedAt: at,
        },
      });
    }
    case 'RecordFailure': {
      const c = command.data;
      if (state.kind === 'none' || !state.awaitingReply.includes(c.replyTo))
        return refuse('conflict', 'no question waits for this reply');
      return accept({
        type: 'AssistantReplyFailed',
        data: {
          conversationId: state.conversationId,
          ownerId: state.ownerId,
          replyTo: c.replyTo,
          reason: c.reason.slice(0, 500),
          failedAt: at,
        },
      });
    }
    case 'ArchiveConversation': {
      if (state.kind !== 'open' || state.ownerId !== command.data.actorId)
        return refuse('not_found', 'conversation not found');
      return accept({
        type: 'ConversationArchived',
        data: { conversationId: state.conversationId, ownerId: state.ownerId, archivedAt: at },
      });
    }
  }
}

export const conversationDecider = {
  decide: decideConversation,
  evolve: evolveConversation,
  initialState: initialConversationState,
};

export class DialogDomainError extends Error {
  override readonly name = 'DialogDomainError';
  readonly code: DialogErrorCode;
  readonly errors: readonly { path: string; message: string }[];
  constructor(error: DialogError) {
    super(error.message);
    this.code = error.code;
    this.errors = error.errors ?? [];
  }
}
