// The dialog module's public contract: its events as zod schemas and TS types.
//
// Stream: conversation-<id>. A conversation holds at most DIALOG_MAX_MESSAGES_PER_CONVERSATION
// messages, so its stream stays short; a longer talk starts a new conversation.
// Message text and titles are personal data, sealed with the owner's key (sealedFields).
import { z } from 'zod';
import { sealedLength } from '../../platform/crypto/personal-data.ts';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';

const id = z.uuid();
const timestamp = z.iso.datetime();

/** Limits of what the provider sends (untrusted): the command cuts a reply to them before it is recorded. */
export const MAX_REPLY_CHARS = 200_000;
export const MAX_MODEL_CHARS = 200;
export const MAX_FAILURE_REASON = 500;
/** The read model counts tokens in integer columns. */
export const MAX_TOKENS_PER_MESSAGE = 2 ** 31 - 1;

const tokens = z.number().int().min(0).max(MAX_TOKENS_PER_MESSAGE);
export const usageSchema = z.strictObject({ promptTokens: tokens, completionTokens: tokens });
export type Usage = z.infer<typeof usageSchema>;

/** The title (≤ 200 characters) is sealed with the owner's key in new events, plain in events from before. */
export const conversationStartedSchema = z.strictObject({
  conversationId: id,
  ownerId: id,
  title: z.string().max(sealedLength(200)),
  startedAt: timestamp,
});
/** The longest message text (DIALOG_MAX_MESSAGE_CHARS is at most this). */
export const MAX_MESSAGE_CHARS = 100_000;
/** Message text is stored sealed (platform/crypto/personal-data.ts): the schema bounds the sealed form. */
const sealedText = (maxChars: number) => z.string().max(sealedLength(maxChars));

export const userMessagePostedSchema = z.strictObject({
  conversationId: id,
  ownerId: id,
  messageId: id,
  content: sealedText(MAX_MESSAGE_CHARS),
  postedAt: timestamp,
});
export const assistantRepliedSchema = z.strictObject({
  conversationId: id,
  ownerId: id,
  messageId: id,
  replyTo: id,
  content: sealedText(MAX_REPLY_CHARS),
  model: z.string().max(MAX_MODEL_CHARS),
  usage: usageSchema.nullable(),
  latencyMs: z.number().int().min(0),
  /** The client went away mid-stream: what had arrived is kept, marked as partial. */
  partial: z.boolean(),
  repliedAt: timestamp,
});
export const assistantReplyFailedSchema = z.strictObject({
  conversationId: id,
  ownerId: id,
  replyTo: id,
  reason: z.string().max(MAX_FAILURE_REASON),
  failedAt: timestamp,
});
export const conversationArchivedSchema = z.strictObject({ conversationId: id, ownerId: id, archivedAt: timestamp });

export const dialogEventSchemas = {
  ConversationStarted: conversationStartedSchema,
  UserMessagePosted: userMessagePostedSchema,
  AssistantReplied: assistantRepliedSchema,
  AssistantReplyFailed: assistantReplyFailedSchema,
  ConversationArchived: conversationArchivedSchema,
} as const;

/** The dialog events' codec: type names, guard, validating parse, schema versions. */
export const dialogEvents = eventCatalog(dialogEventSchemas);
export type DialogEventType = keyof typeof dialogEventSchemas;

/** Personal data, sealed with the owner's key (data.ownerId) in new events: erasure makes it unreadable. */
export const sealedFields: Readonly<Record<DialogEventType, readonly string[]>> = {
  ConversationStarted: ['title'],
  UserMessagePosted: ['content'],
  AssistantReplied: ['content'],
  AssistantReplyFailed: [],
  ConversationArchived: [],
};

export type DialogEventData<T extends DialogEventType> = z.infer<(typeof dialogEventSchemas)[T]>;
export type DialogEvent = EventsOf<typeof dialogEventSchemas>;

export const conversationStream = (conversationId: string): string => `conversation-${conversationId}`;
