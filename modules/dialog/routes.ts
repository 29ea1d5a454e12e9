// HTTP routes of the dialog module (API.md, Dialog): /api/v1/dialog/*, each declared once with its
// schemas and documentation. Owner-only: another user's conversation is 404 everywhere. A message
// answers as JSON (201) or, with `Accept: text/event-stream`, as server-sent events: `delta`
// pieces, then `done` (or `error`).
import { PassThrough } from 'node:stream';
import type { Knex } from 'knex';
import { z } from 'zod';
import { commandCause } from '../../platform/http/command-cause.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, readPage, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem, INTERNAL_ERROR_DETAIL, problemBody } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import { stateOf, type AppContext, type AppRouter } from '../../platform/http/state.ts';
import { ReplyFailedError, type DialogCommands, type PostedQuestion } from './commands.ts';
import * as queries from './queries.ts';
import * as schemas from './schemas.ts';

export interface DialogRouteOptions {
  readonly commands: DialogCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  readonly maxMessageChars: number;
}

const notFound = "`not_found`: unknown, archived, or another user's conversation";

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const upstreamFailed = (e: ReplyFailedError) =>
  new HttpProblem(502, 'upstream_failed', 'The assistant could not answer; your message is stored. Try again later.', {
    extensions: { userMessageId: e.question.messageId },
  });

export function dialogRouters(options: DialogRouteOptions): AppRouter[] {
  const routes = new RouteGroup(options.openapi, {
    tag: 'dialog',
    description: 'Conversations with an assistant that knows your samples',
  });
  conversationRoutes(routes, options);
  messageRoutes(routes, options);
  return [routes.router];
}

/** Conversations as a whole, and the caller's usage. */
function conversationRoutes(routes: RouteGroup, { commands, knex }: DialogRouteOptions): void {
  routes.add({
    method: 'post',
    path: '/api/v1/dialog/conversations',
    summary: 'Start a conversation',
    body: schemas.startBody,
    headers: ['idempotencyKey'],
    responses: { 201: { description: 'Started', schema: schemas.conversationSchema } },
    handler: async (ctx, { auth, body }) => {
      const conversation = await commands.start(auth.userId, body.title ?? '', commandCause(ctx));
      ctx.status = 201;
      ctx.set('Location', `/api/v1/dialog/conversations/${conversation.id}/messages`);
      ctx.body = conversation;
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/dialog/conversations',
    summary: "The caller's conversations, newest activity first",
    query: schemas.listQuery,
    responses: { 200: { description: 'A page', schema: pageSchema(schemas.conversationListItem) } },
    handler: async (ctx, { auth, query }) => {
      const keyOf = (last: queries.ConversationView) => ({ at: last.lastActivityAt, id: last.id });
      ctx.body = await readPage(
        query,
        schemas.conversationCursor,
        (page) => queries.listConversations(knex, auth.userId, page),
        keyOf,
      );
    },
  });
  routes.add({
    method: 'delete',
    path: '/api/v1/dialog/conversations/{id}',
    summary: 'Archive a conversation',
    description: 'It leaves the lists; its events stay in the audit trail.',
    params: schemas.idParams,
    responses: { 204: 'Archived', 404: notFound },
    handler: async (ctx, { auth, params }) => {
      await commands.archive(auth.userId, params.id, commandCause(ctx));
      ctx.status = 204;
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/dialog/usage',
    summary: "Today's use (UTC) against the daily quota",
    responses: { 200: { description: 'Usage', schema: schemas.usageReport } },
    handler: async (ctx, { auth }) => {
      ctx.body = await commands.quota(auth.userId);
    },
  });
}

/** The messages of one conversation: ask, read. */
function messageRoutes(routes: RouteGroup, { commands, knex, maxMessageChars }: DialogRouteOptions): void {
  routes.add({
    method: 'post',
    path: '/api/v1/dialog/conversations/{id}/messages',
    summary: 'Ask: the message is stored, then answered',
    description:
      'JSON by default (201). With `Accept: text/event-stream` the reply streams as server-sent events: ' +
      '`delta` ({ content }) pieces, then `done` (the same body as the 201), or `error` (a problem). ' +
      'The question is stored before the assistant is asked.',
    params: schemas.idParams,
    body: schemas.messageBody(maxMessageChars),
    headers: ['idempotencyKey'],
    responses: {
      201: { description: 'The question and the reply', schema: schemas.exchangeSchema },
      404: notFound,
      422: '`validation_failed` (empty or too long) or `conversation_full`',
      429: '`quota_exceeded` (daily messages or tokens; Retry-After = until midnight UTC) or `rate_limited`',
      502: '`upstream_failed`: the provider failed after retries; the question stays stored',
    },
    handler: async (ctx, { auth, params, body }) => {
      const question = await commands.ask(auth.userId, params.id, body.content, commandCause(ctx));
      if (ctx.get('accept').includes('text/event-stream')) {
        streamReply(ctx, commands, question);
        return;
      }
      try {
        ctx.body = await commands.answer(question);
        ctx.status = 201;
      } catch (error) {
        throw error instanceof ReplyFailedError ? upstreamFailed(error) : error;
      }
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/dialog/conversations/{id}/messages',
    summary: 'The messages of a conversation, oldest first',
    params: schemas.idParams,
    query: schemas.listQuery,
    responses: {
      200: {
        description: 'A page',
        schema: pageSchema(z.union([schemas.userMessageSchema, schemas.assistantMessageSchema])),
      },
      404: notFound,
    },
    handler: async (ctx, { auth, params, query }) => {
      const after = decodeCursor(query.cursor, schemas.messageCursor);
      if (!(await queries.findConversation(knex, auth.userId, params.id)))
        throw new HttpProblem(404, 'not_found', 'Conversation not found.');
      const { rows, total } = await queries.listMessages(knex, auth.userId, params.id, {
        limit: query.limit,
        afterSeq: after?.seq,
      });
      const item = ({ seq: _seq, ...message }: queries.MessageView & { seq: number }) => message;
      ctx.body = toPage(rows, query.limit, total, (last) => ({ seq: last.seq }), item);
    },
  });
}

/** Server-sent events. The response is committed now; what goes wrong later is an `error` event. */
function streamReply(ctx: AppContext, commands: DialogCommands, question: PostedQuestion): void {
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
  const { requestId, log } = stateOf(ctx);
  void (async () => {
    try {
      const exchange = await commands.answer(question, {
        signal: abort.signal,
        onDelta: (content) => stream.write(sse('delta', { content })),
      });
      stream.write(sse('done', exchange));
    } catch (error) {
      if (!(error instanceof ReplyFailedError)) log.error({ err: error }, 'streaming a reply failed');
      const problem =
        error instanceof ReplyFailedError
          ? upstreamFailed(error)
          : new HttpProblem(500, 'internal_error', INTERNAL_ERROR_DETAIL);
      stream.write(sse('error', problemBody(problem, requestId)));
    } finally {
      stream.end();
    }
  })();
}
