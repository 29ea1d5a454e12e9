// given/when/then specs of the conversation decider, and the context budget.
import test from 'ava';
import { conversationDecider, type DialogCommand } from '../../modules/dialog/decide.ts';
import type { DialogEvent } from '../../modules/dialog/events.ts';
import { contextWithinBudget, estimateTokens } from '../../modules/dialog/context.ts';
import { at, deciderSpec, fixedIds, now } from '../support/decider-spec.ts';

const spec = deciderSpec(conversationDecider);
const [owner, stranger, conversationId, m1, r1] = fixedIds(5);
const limits = { maxMessageChars: 20, maxMessagesPerConversation: 4 };
const quota = { messages: 0, tokens: 0, maxMessages: 10, maxTokens: 1000 };

const started: DialogEvent = {
  type: 'ConversationStarted',
  data: { conversationId, ownerId: owner, title: 'Q', startedAt: at },
};
const posted = (messageId = m1): DialogEvent => ({
  type: 'UserMessagePosted',
  data: { conversationId, ownerId: owner, messageId, content: 'hi', postedAt: at },
});
const replied = (replyTo = m1, messageId = r1): DialogEvent => ({
  type: 'AssistantReplied',
  data: {
    conversationId,
    ownerId: owner,
    messageId,
    replyTo,
    content: 'hello',
    model: 'm',
    usage: null,
    latencyMs: 3,
    partial: false,
    repliedAt: at,
  },
});
const post = (
  content: string,
  extra: Partial<{ actorId: string; quota: typeof quota; messageId: string }> = {},
): DialogCommand => ({
  type: 'PostUserMessage',
  data: {
    actorId: extra.actorId ?? owner,
    messageId: extra.messageId ?? m1,
    content,
    limits,
    quota: extra.quota ?? quota,
    now,
  },
});

test('start: a title is trimmed; an empty one gets a default', (t) => {
  spec(t)
    .given([])
    .when({ type: 'StartConversation', data: { conversationId, ownerId: owner, title: '  ', now } })
    .then([{ ...started, data: { ...started.data, title: 'New conversation' } }]);
});

test('post: the message is stored trimmed', (t) => {
  spec(t).given([started]).when(post('  hi  ')).then([posted()]);
});

test("post: empty, too long, someone else's, archived", (t) => {
  spec(t).given([started]).when(post('   ')).thenFails({ code: 'validation_failed' });
  spec(t)
    .given([started])
    .when(post('x'.repeat(21)))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'content', message: 'at most 20 characters' }] });
  spec(t)
    .given([started])
    .when(post('hi', { actorId: stranger }))
    .thenFails({ code: 'not_found' });
  spec(t).given([]).when(post('hi')).thenFails({ code: 'not_found' });
  spec(t)
    .given([started, { type: 'ConversationArchived', data: { conversationId, ownerId: owner, archivedAt: at } }])
    .when(post('hi'))
    .thenFails({ code: 'not_found' });
});

test('post: the quota of messages or tokens', (t) => {
  spec(t)
    .given([started])
    .when(post('hi', { quota: { ...quota, messages: 10 } }))
    .thenFails({ code: 'quota_exceeded' });
  spec(t)
    .given([started])
    .when(post('hi', { quota: { ...quota, tokens: 1000 } }))
    .thenFails({ code: 'quota_exceeded' });
});

test('post: a full conversation (its stream stays short)', (t) => {
  const m2 = '77777777-7777-4777-8777-777777777777';
  const r2 = '88888888-8888-4888-8888-888888888888';
  const next = post('hi', { messageId: '66666666-6666-4666-8666-666666666666' });
  t.true(spec(t).given([started, posted(), replied()]).when(next).outcome().ok, 'the 3rd and 4th message fit');
  spec(t)
    .given([started, posted(), replied(), posted(m2), replied(m2, r2)])
    .when(next)
    .thenFails({ code: 'conversation_full' });
});

test('a reply or a failure needs a question waiting for it, once', (t) => {
  const reply: DialogCommand = {
    type: 'RecordReply',
    data: { messageId: r1, replyTo: m1, content: 'hello', model: 'm', usage: null, latencyMs: 3, partial: false, now },
  };
  spec(t).given([started, posted()]).when(reply).then([replied()]);
  spec(t).given([started, posted(), replied()]).when(reply).thenFails({ code: 'conflict' });
  spec(t)
    .given([started])
    .when({ type: 'RecordFailure', data: { replyTo: m1, reason: 'x', now } })
    .thenFails({ code: 'conflict' });
});

test('context: the newest messages that fit the budget, oldest first', (t) => {
  const history = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)].map((content, i) => ({
    role: i % 2 ? ('assistant' as const) : ('user' as const),
    content,
  }));
  const budget = estimateTokens('q') + 2 * estimateTokens('x'.repeat(40));
  t.deepEqual(
    contextWithinBudget(history, 'q', budget).map((m) => m.content[0]),
    ['b', 'c'],
  );
  t.deepEqual(contextWithinBudget(history, 'q', 5), []);
  t.is(contextWithinBudget(history, 'q', 10_000).length, 3);
});
