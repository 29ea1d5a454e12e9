// The dialog module's HTTP contract as zod schemas (API.md, Dialog): what the routes validate and
// what the OpenAPI document shows.
import { z } from 'zod';
import { paginationQuery } from '../../platform/http/pagination.ts';
import { isoDateTime } from '../../platform/text.ts';

export const idParams = z.object({ id: z.uuid().overwrite((id) => id.toLowerCase()) });

export const conversationSchema = z
  .object({ id: z.uuid(), title: z.string(), createdAt: z.iso.datetime() })
  .meta({ id: 'Conversation' });
export const conversationListItem = conversationSchema
  .extend({ lastActivityAt: z.iso.datetime(), messages: z.number().int() })
  .meta({ id: 'ConversationSummary' });
const usageSchema = z.object({ promptTokens: z.number().int(), completionTokens: z.number().int() });
export const userMessageSchema = z
  .object({ id: z.uuid(), role: z.literal('user'), content: z.string(), createdAt: z.iso.datetime() })
  .meta({ id: 'UserMessage' });
export const assistantMessageSchema = z
  .object({
    id: z.uuid(),
    role: z.literal('assistant'),
    content: z.string(),
    createdAt: z.iso.datetime(),
    model: z.string(),
    usage: usageSchema,
    partial: z.boolean().meta({ description: 'True when the client left mid-stream: what had arrived was kept' }),
  })
  .meta({ id: 'AssistantMessage' });
export const exchangeSchema = z
  .object({ userMessage: userMessageSchema, assistantMessage: assistantMessageSchema })
  .meta({ id: 'Exchange' });
export const usageReport = z
  .object({
    today: z.object({
      messages: z.number().int(),
      promptTokens: z.number().int(),
      completionTokens: z.number().int(),
    }),
    quota: z.object({ messages: z.number().int(), tokens: z.number().int() }),
  })
  .meta({ id: 'DialogUsage' });

export const startBody = z.strictObject({ title: z.string().max(200).optional() });
/** Up to four times the limit passes the schema, so the decider can say how long a message may be. */
export const messageBody = (maxMessageChars: number) =>
  z.strictObject({
    content: z
      .string()
      .max(maxMessageChars * 4)
      .meta({ description: `The question, 1–${maxMessageChars} characters` }),
  });

export const listQuery = z.strictObject({ ...paginationQuery });
export const conversationCursor = z.object({ at: isoDateTime(), id: z.uuid() });
/** seq is an integer column. */
export const messageCursor = z.object({
  seq: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
});
