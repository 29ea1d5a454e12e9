// Pure evolver of a conversation's stream, with its initial state.
import type { DialogEvent } from './events.ts';

export interface ConversationState {
  readonly kind: 'none' | 'open' | 'archived';
  readonly conversationId: string;
  readonly ownerId: string;
  readonly messages: number;
  /** Ids of user messages that have no reply or failure yet. */
  readonly awaitingReply: readonly string[];
}

export const initialConversationState = (): ConversationState => ({
  kind: 'none',
  conversationId: '',
  ownerId: '',
  messages: 0,
  awaitingReply: [],
});

export function evolveConversation(state: ConversationState, event: DialogEvent): ConversationState {
  switch (event.type) {
    case 'ConversationStarted':
      return {
        kind: 'open',
        conversationId: event.data.conversationId,
        ownerId: event.data.ownerId,
        messages: 0,
        awaitingReply: [],
      };
    case 'UserMessagePosted':
      return { ...state, messages: state.messages + 1, awaitingReply: [...state.awaitingReply, event.data.messageId] };
    case 'AssistantReplied':
      return {
        ...state,
        messages: state.messages + 1,
        awaitingReply: state.awaitingReply.filter((m) => m !== event.data.replyTo),
      };
    case 'AssistantReplyFailed':
      return { ...state, awaitingReply: state.awaitingReply.filter((m) => m !== event.data.replyTo) };
    case 'ConversationArchived':
      return { ...state, kind: 'archived' };
  }
}
