// HTTP routes of the dialog module (API.md, Dialog): /api/v1/dialog/*. Owner-only: another
// user's conversation is 404 everywhere. A message answers as JSON (201) or, with
// `Accept: text/event-stream`, as server-sent events: `delta` pieces, then `done` (or `error`).
import { PassThrough } from 'node:stream';
import type { Knex } from 'knex';
import { z } from 'zod';
import { commandCause } from '../../platform/http/command-cause.ts';
import { jsonContent, problemResponse, type OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, paginationQuery, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem, problemBody } from '../../platform/http/problem.ts';
import { requireAuth } from '../../platform/http/require-auth.ts';
import { createRouter, stateOf, type AppRouter } from '../../platform/http/state.ts';
import { parseBody, parseId, parseQuery } from '../../platform/http/validate.ts';
import { isoDateTime } from '../../platform/text.ts';
import { ReplyFailedError, type DialogCommands } from './commands.ts';
import { DialogDomainError, dialogErrorStatus } from './decide.ts';
import * as queries from './queries.ts';

export interface DialogRouteOptions {
  readonly commands: DialogCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  readonly maxMessageChars: number;
  /** The daily message quota (X-RateLimit-Limit of a quota_exceeded answer). */
  readonly dailyMessages: number;
}

const json = jsonContent;
const problem = problemResponse;
const idParam = z.object({ id: z.uuid() });
const notFound = problem("`not_found`: unknown, archived, or another user's conversation");

const conversationSchema = z
  .object({ id: z.uuid(), title: z.string(), createdAt: z.iso.datetime() })
  .meta({ id: 'Conversation' });
const conversationListItem = conversationSchema
  .extend({ lastActivityAt: z.iso.datetime(), messages: z.number().int() })
  .meta({ id: 'ConversationSummary' });
const usageSchema = z.object({ promptTokens: z.number().int(), completionTokens: z.number().int() });
const userMessageSchema = z
  .object({ id: z.uuid(), role: z.literal('user'), content: z.string(), createdAt: z.iso.datetime() })
  .meta({ id: 'UserMessage' });
const assistantMessageSchema = z
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
const exchangeSchema = z
  .object({ userMessage: userMessageSchema, assistantMessage: assistantMessageSchema })
  .meta({ id: 'Exchange' });
const startBody = z.strictObject({ title: z.string().max(200).optional() });
const listQuery = z.strictObject({ ...paginationQuery });
const conversationCursor = z.object({ at: isoDateTime(), id: z.uuid() });
const messageCursor = z.object({
  seq: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
}); // seq is an integer column

/**
 * Dialog's domain errors as problems (the router's error translation); anything else unchanged.
 * A used-up daily quota answers like a rate limit: Retry-After and X-RateLimit-* up to midnight UTC.
 */
function domainProblemWith(dailyMessages: number): (error: unknown) => unknown {
  return (error) => {
    if (!(error instanceof DialogDomainError)) return error;
    const detail = error.message.charAt(0).toUpperCase() + error.message.slice(1) + '.';
    const headers: Record<string, string> = {};
    if (error.code === 'quota_exceeded') {
      const midnight = new Date();
      midnight.setUTCHours(24, 0, 0, 0);
      headers['Retry-After'] = String(Math.max(1, Math.ceil((midnight.getTime() - Date.now()) / 1000)));
      headers['X-RateLimit-Limit'] = String(dailyMessages);
      headers['X-RateLimit-Remaining'] = '0';
      headers['X-RateLimit-Reset'] = String(midnight.getTime() / 1000);
    }
    return new HttpProblem(dialogErrorStatus[error.code], error.code, detail, {
      ...(error.errors.length > 0 ? { errors: error.errors } : {}),
      headers,
    });
  };
}

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const upstreamFailed = (e: ReplyFailedError) =>
  new HttpProblem(502, 'upstream_failed', 'The assistant could not answer; your message is stored. Try again later.', {
    extensions: { userMessageId: e.question.messageId },
  });

export function dialogRouters(options: DialogRouteOptions): AppRouter[] {
  const { commands, knex, openapi } = options;
  const router = createRouter({ prefix: '/api/v1/dialog', translateErrors: domainProblemWith(options.dailyMessages) });
  openapi.tag('dialog', 'Conversations with an assistant that knows your samples');
  const tags = ['dialog'];

  openapi.add(
    'post',
    '/api/v1/dialog/conversations',
    {
      tags,
      summary: 'Start a conversation',
      requestBody: json(startBody),
      responses: { '201': { description: 'Started', ...json(conversationSchema) } },
    },
    { headers: ['idempotencyKey'] },
  );
  router.post('/conversations', async (ctx) => {
    const auth = requireAuth(ctx);
    const body = parseBody(ctx, startBody);
    const conversation = await commands.start(auth.userId, body.title ?? '', commandCause(ctx));
    ctx.status = 201;
    ctx.set('Location', `/api/v1/dialog/conversations/${conversation.id}/messages`);
    ctx.body = conversation;
  });

  openapi.add('get', '/api/v1/dialog/conversations', {
    tags,
    summary: "The caller's conversations, newest activity first",
    requestParams: { query: listQuery },
    responses: { '200': { description: 'A page', ...json(pageSchema(conversationListItem)) } },
  });
  router.get('/conversations', async (ctx) => {
    const auth = requireAuth(ctx);
    const q = parseQuery(ctx, listQuery);
    const after = decodeCursor(q.cursor, conversationCursor);
    const { rows, total } = await queries.listConversations(knex, auth.userId, { limit: q.limit, after });
    ctx.body = toPage(rows, q.limit, total, (last) => ({ at: last.lastActivityAt, id: last.id }));
  });

  const messageBody = z.strictObject({
    content: z
      .string()
      .max(options.maxMessageChars * 4)
      .meta({ description: `The question, 1–${options.maxMessageChars} characters` }),
  });
  openapi.add(
    'post',
    '/api/v1/dialog/conversations/{id}/messages',
    {
      tags,
      summary: 'Ask: the message is stored, then answered',
      description:
        'JSON by default (201). With `Accept: text/event-stream` the reply streams as server-sent events: `delta` ({ content }) pieces, then `done` (the same body as the 201), or `error` (a problem). The question is stored before the assistant is asked.',
      requestParams: { path: idParam },
      requestBody: json(messageBody),
      responses: {
        '201': { description: 'The question and the reply', ...json(exchangeSchema) },
        '404': notFound,
        '422': problem('`validation_failed` (empty or too long) or `conversation_full`'),
        '429': problem(
          '`quota_exceeded` (daily messages or tokens; Retry-After = until midnight UTC) or `rate_limited`',
        ),
        '502': problem('`upstream_failed`: the provider failed after retries; the question stays stored'),
      },
    },
    { headers: ['idempotencyKey'] },
  );
  router.post('/conversations/:id/messages', async (ctx) => {
    const auth = requireAuth(ctx);
    const conversationId = parseId(ctx.params.id);
    const body = parseBody(ctx, messageBody);
    const question = await commands.ask(auth.userId, conversationId, body.content, commandCause(ctx));

    const wantsStream = ctx.get('accept').includes('text/event-stream');
    if (!wantsStream) {
      try {
        ctx.body = await commands.answer(question);
        ctx.status = 201;
      } catch (error) {
        if (error instanceof ReplyFailedError) throw upstreamFailed(error);
        throw error;
      }
      return;
    }

    // Server-sent events. The response is committed now; what goes wrong later is an `error` event.
    const stream = new PassThrough();
    const abort = new AbortController();
    ctx.res.once('close', () => {
      if (!stream.writableEnded) abort.abort();
    });
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = stream;
    const requestId = stateOf(ctx).requestId;
    const log = stateOf(ctx).log;
    void (async () => {
      try {
        const exchange = await commands.answer(question, {
          signal: abort.signal,
          onDelta: (content) => stream.write(sse('delta', { content })),
        });
        stream.write(sse('done', exchange));
      } catch (error) {
        const problem =
          error instanceof ReplyFailedError
            ? upstreamFailed(error)
            : new HttpProblem(
                500,
                'internal_error',
                'Something went wrong on our side. Quote the request id when reporting it.',
              );
        if (!(error instanceof ReplyFailedError)) log.error({ err: error }, 'streaming a reply failed');
        stream.write(sse('error', problemBody(problem, requestId)));
      } finally {
        stream.end();
      }
    })();
  });

  openapi.add('get', '/api/v1/dialog/conversations/{id}/messages', {
    tags,
    summary: 'The messages of a conversation, oldest first',
    requestParams: { path: idParam, query: listQuery },
    responses: {
      '200': { description: 'A page', ...json(pageSchema(z.union([userMessageSchema, assistantMessageSchema]))) },
      '404': notFound,
    },
  });
  router.get('/conversations/:id/messages', async (ctx) => {
    const auth = requireAuth(ctx);
    const conversationId = parseId(ctx.params.id);
    const q = parseQuery(ctx, listQuery);
    const after = decodeCursor(q.cursor, messageCursor);
    if (!(await queries.findConversation(knex, auth.userId, conversationId)))
      throw new HttpProblem(404, 'not_found', 'Conversation not found.');
    const { rows, total } = await queries.listMessages(knex, auth.userId, conversationId, {
      limit: q.limit,
      afterSeq: after?.seq,
    });
    ctx.body = toPage(
      rows,
      q.limit,
      total,
      (last) => ({ seq: last.seq }),
      ({ seq: _seq, ...message }) => message,
    );
  });

  openapi.add('delete', '/api/v1/dialog/conversations/{id}', {
    tags,
    summary: 'Archive a conversation',
    description: 'It leaves the lists; its events stay in the audit trail.',
    requestParams: { path: idParam },
    responses: { '204': { description: 'Archived' }, '404': notFound },
  });
  router.delete('/conversations/:id', async (ctx) => {
    const auth = requireAuth(ctx);
    await commands.archive(auth.userId, parseId(ctx.params.id), commandCause(ctx));
    ctx.status = 204;
  });

  openapi.add('get', '/api/v1/dialog/usage', {
    tags,
    summary: "Today's use (UTC) against the daily quota",
    responses: {
      '200': {
        description: 'Usage',
        ...json(
          z
            .object({
              today: z.object({
                messages: z.number().int(),
                promptTokens: z.number().int(),
                completionTokens: z.number().int(),
              }),
              quota: z.object({ messages: z.number().int(), tokens: z.number().int() }),
            })
            .meta({ id: 'DialogUsage' }),
        ),
      },
    },
  });
  router.get('/usage', async (ctx) => {
    const auth = requireAuth(ctx);
    ctx.body = await commands.quota(auth.userId);
  });

  return [router];
}
