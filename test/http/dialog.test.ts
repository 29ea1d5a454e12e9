// Dialog over HTTP against a fake OpenAI-compatible provider: a normal reply, a streamed reply,
// 429 then success, repeated 500s, a timeout, a tool call answered from the caller's data only,
// a client leaving mid-stream, limits and isolation.
import test from 'ava';
import pg from 'pg';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts';
import { call, newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

let llm: FakeLlm;
let svc: TestService;
let api: string;
let user: TestUser;

test.before(async () => {
  llm = await startFakeLlm();
  svc = await startTestService({
    LLM_BASE_URL: llm.url,
    LLM_MODEL: 'fake-model',
    LLM_TIMEOUT_MS: '700',
    LLM_MAX_RETRIES: '2',
    DIALOG_MAX_MESSAGE_CHARS: '500',
  });
  api = svc.api;
  user = await newUser(api, 'asker');
});
test.after.always(async () => {
  await svc?.stop();
  await llm?.close();
});

const conversation = async (who: TestUser = user) =>
  (await call(api, 'POST', '/dialog/conversations', { token: who.accessToken, body: { title: 'test' } })).body
    .id as string;
const ask = (id: string, content: string, who: TestUser = user) =>
  call(api, 'POST', `/dialog/conversations/${id}/messages`, { token: who.accessToken, body: { content } });
const messages = async (id: string, who: TestUser = user) =>
  (await call(api, 'GET', `/dialog/conversations/${id}/messages?limit=100`, { token: who.accessToken })).body.items as {
    id: string;
    role: string;
    content: string;
    partial?: boolean;
  }[];

async function eventsOf(conversationId: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    return (
      await client.query('SELECT type, data FROM events WHERE stream_id = $1 ORDER BY revision', [
        `conversation-${conversationId}`,
      ])
    ).rows;
  } finally {
    await client.end();
  }
}

/** A question asking for the reply as server-sent events. */
const askStreamed = (id: string, content: string, signal?: AbortSignal) =>
  fetch(`${api}/dialog/conversations/${id}/messages`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${user.accessToken}`,
      'content-type': 'application/json',
      accept: 'text/event-stream',
    },
    body: JSON.stringify({ content }),
    ...(signal ? { signal } : {}),
  });

async function readSse(response: Response): Promise<{ event: string; data: unknown }[]> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

test('a normal reply: 201 with both messages, the model and usage; stored in order', async (t) => {
  const id = await conversation();
  const r = await ask(id, 'What is a buffy coat? [s:reply]');
  t.is(r.status, 201);
  t.like(r.body.userMessage, { role: 'user', content: 'What is a buffy coat? [s:reply]' });
  t.like(r.body.assistantMessage, {
    role: 'assistant',
    content: 'answer to: What is a buffy coat? [s:reply]',
    model: 'fake-model-1',
    usage: { promptTokens: 11, completionTokens: 7 },
    partial: false,
  });
  const stored = await messages(id);
  t.deepEqual(
    stored.map((m) => m.role),
    ['user', 'assistant'],
  );
  const events = await eventsOf(id);
  t.deepEqual(
    events.map((e) => e.type),
    ['ConversationStarted', 'UserMessagePosted', 'AssistantReplied'],
  );
  t.is(typeof events[2]!.data.latencyMs, 'number');
  const sent = llm.of('reply').at(-1)!;
  t.is(sent.body.model, 'fake-model');
  t.is(sent.body.messages[0]!.role, 'system');
  t.true(String(sent.body.messages[0]!.content).includes('Vialog'));
  const usage = await call(api, 'GET', '/dialog/usage', { token: user.accessToken });
  t.true(usage.body.today.messages >= 1);
  t.true(usage.body.today.promptTokens >= 11);
});

test('a hostile reply (U+0000, a lone surrogate, token counts beyond integer) is stored as text the read model can hold', async (t) => {
  const who = await newUser(api, 'hostilellm'); // its usage of the day is used up by this reply
  const id = await conversation(who);
  const r = await ask(id, 'hello [s:hostile]', who);
  t.is(r.status, 201);
  t.like(r.body.assistantMessage, {
    content: 'bad\ufffd text\ufffd end',
    usage: { promptTokens: 2 ** 31 - 1, completionTokens: 2 ** 31 - 1 },
  });
  t.deepEqual(
    (await messages(id, who)).map((m) => m.content),
    ['hello [s:hostile]', 'bad\ufffd text\ufffd end'],
  );
  const failed = (await svc.service.engine.status()).filter((s) => s.status === 'failed' || s.lastError !== null);
  t.deepEqual(
    failed.map((s) => s.name),
    [],
    'the dialog read model keeps running',
  );
});

test('earlier messages go along as context', async (t) => {
  const id = await conversation();
  await ask(id, 'first question [s:ctx1]');
  await ask(id, 'second question [s:ctx2]');
  const sent = llm.of('ctx2').at(-1)!;
  const contents = sent.body.messages.map((m) => m.content);
  t.true(contents.includes('first question [s:ctx1]'));
  t.true(contents.includes('answer to: first question [s:ctx1]'));
  t.is(contents.at(-1), 'second question [s:ctx2]');
});

test('a streamed reply: delta events, then done with the stored messages', async (t) => {
  const id = await conversation();
  const response = await askStreamed(id, 'stream please [s:stream]');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = await readSse(response);
  const deltas = events.filter((e) => e.event === 'delta').map((e) => (e.data as { content: string }).content);
  t.deepEqual(deltas, ['Hel', 'lo ', 'there']);
  const done = events.at(-1)!;
  t.is(done.event, 'done');
  t.like(done.data, {
    assistantMessage: { content: 'Hello there', partial: false, usage: { promptTokens: 5, completionTokens: 3 } },
  });
  t.deepEqual(
    (await messages(id)).map((m) => m.content),
    ['stream please [s:stream]', 'Hello there'],
  );
});

test('429 then success: retried once, answered', async (t) => {
  const id = await conversation();
  const r = await ask(id, 'busy? [s:flaky429]');
  t.is(r.status, 201);
  t.is(llm.of('flaky429').length, 2);
});

test('repeated 500s: 502 upstream_failed after the retries; the question stays, the failure is recorded', async (t) => {
  const id = await conversation();
  const r = await ask(id, 'anyone? [s:down]');
  t.is(r.status, 502);
  t.is(r.body.code, 'upstream_failed');
  t.is(llm.of('down').length, 3, 'one call and two retries');
  const stored = await messages(id);
  t.deepEqual(
    stored.map((m) => [m.role, m.content]),
    [['user', 'anyone? [s:down]']],
  );
  const failed = (await eventsOf(id)).find((e) => e.type === 'AssistantReplyFailed');
  t.truthy(failed);
  t.regex(String(failed!.data.reason), /^server_error/);
  // The conversation goes on.
  t.is((await ask(id, 'again [s:reply]')).status, 201);
});

test('a provider that never answers: the timeout fires, 502, not retried', async (t) => {
  const id = await conversation();
  const started = Date.now();
  const r = await ask(id, 'hello? [s:hang]');
  t.is(r.status, 502);
  t.true(Date.now() - started < 5_000);
  t.is(llm.of('hang').length, 1);
  const failed = (await eventsOf(id)).find((e) => e.type === 'AssistantReplyFailed');
  t.regex(String(failed!.data.reason), /^timeout/);
});

test('a reply of the wrong shape is refused (provider output is untrusted)', async (t) => {
  const id = await conversation();
  const r = await ask(id, 'shape? [s:bad]');
  t.is(r.status, 502);
  t.regex(String((await eventsOf(id)).find((e) => e.type === 'AssistantReplyFailed')!.data.reason), /^bad_reply/);
});

test("a tool call is answered from the caller's samples only", async (t) => {
  const other = await newUser(api, 'neighbour');
  const mine = (
    await call(api, 'POST', '/samples', {
      token: user.accessToken,
      body: { sampleType: 'blood', subjectId: 'P321', collectionDate: new Date().toISOString().slice(0, 10) },
    })
  ).body.id as string;
  const theirs = (
    await call(api, 'POST', '/samples', {
      token: other.accessToken,
      body: { sampleType: 'saliva', subjectId: 'P321', collectionDate: new Date().toISOString().slice(0, 10) },
    })
  ).body.id as string;
  const id = await conversation();
  const r = await ask(id, 'what do I have of P321? [s:tool:subject_samples:{"subjectId":"P321"}]');
  t.is(r.status, 201);
  const content = r.body.assistantMessage.content as string;
  t.true(content.includes(mine));
  t.false(content.includes(theirs));
  const second = llm.of('tool:subject_samples:{"subjectId":"P321"}').at(-1)!;
  t.true(second.body.messages.some((m) => m.role === 'tool' && m.tool_call_id === 'call_1'));
  t.true(Array.isArray(second.body.tools) || second.body.tools === undefined);
  const counts = await ask(id, 'how many? [s:tool:sample_counts:{}]');
  t.regex(counts.body.assistantMessage.content, /"total":1\b/);
  const sneaky = await ask(id, 'evil [s:tool:subject_samples:{"subjectId":"P321","ownerId":"x"}]');
  t.false((sneaky.body.assistantMessage.content as string).includes(theirs));
});

test('a client that leaves mid-stream leaves a stored, partial reply', async (t) => {
  const id = await conversation();
  const controller = new AbortController();
  const response = await askStreamed(id, 'long one [s:slowstream]', controller.signal);
  const reader = response.body!.getReader();
  const first = await reader.read();
  t.regex(new TextDecoder().decode(first.value), /event: delta/);
  controller.abort();
  let stored: { role: string; content: string; partial?: boolean }[] = [];
  for (let i = 0; i < 50; i++) {
    stored = await messages(id);
    if (stored.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(stored.length, 2);
  t.like(stored[1], { role: 'assistant', partial: true });
  t.true(stored[1]!.content.startsWith('part0'));
  t.false(stored[1]!.content.includes('part9'));
});

test('limits: empty and over-long messages are 422', async (t) => {
  const id = await conversation();
  const empty = await ask(id, '   ');
  t.is(empty.status, 422);
  const long = await ask(id, 'x'.repeat(501));
  t.is(long.status, 422);
  t.deepEqual(long.body.errors, [{ path: 'content', message: 'at most 500 characters' }]);
  t.deepEqual(await messages(id), []);
});

test("another user's conversation is 404 everywhere", async (t) => {
  const id = await conversation();
  const other = await newUser(api, 'snoop');
  t.is((await ask(id, 'hi', other)).status, 404);
  t.is((await call(api, 'GET', `/dialog/conversations/${id}/messages`, { token: other.accessToken })).status, 404);
  t.is((await call(api, 'DELETE', `/dialog/conversations/${id}`, { token: other.accessToken })).status, 404);
  t.false(
    (await call(api, 'GET', '/dialog/conversations', { token: other.accessToken })).body.items.some(
      (c: { id: string }) => c.id === id,
    ),
  );
  t.is(
    (await call(api, 'GET', `/dialog/conversations/${crypto.randomUUID()}/messages`, { token: user.accessToken }))
      .status,
    404,
  );
  t.is((await call(api, 'GET', '/dialog/conversations/nope/messages', { token: user.accessToken })).status, 400);
});

test('archiving removes a conversation from the list; its events stay', async (t) => {
  const id = await conversation();
  await ask(id, 'keep me [s:reply]');
  t.is((await call(api, 'DELETE', `/dialog/conversations/${id}`, { token: user.accessToken })).status, 204);
  const list = await call(api, 'GET', '/dialog/conversations?limit=100', { token: user.accessToken });
  t.false(list.body.items.some((c: { id: string }) => c.id === id));
  t.is((await ask(id, 'still there?')).status, 404);
  t.is((await eventsOf(id)).at(-1)!.type, 'ConversationArchived');
});

test('a hanging provider slows nothing else: other requests answer at once meanwhile', async (t) => {
  const id = await conversation();
  const hanging = ask(id, 'anyone there? [s:hang-meanwhile]');
  await new Promise((r) => setTimeout(r, 100)); // the provider call is now waiting
  const started = performance.now();
  const others = await Promise.all([
    call(api, 'GET', '/dialog/usage', { token: user.accessToken }),
    call(api, 'GET', '/samples', { token: user.accessToken }),
    call(api, 'GET', '/auth/me', { token: user.accessToken }),
  ]);
  const elapsed = performance.now() - started;
  t.deepEqual(
    others.map((o) => o.status),
    [200, 200, 200],
  );
  t.true(elapsed < 500, `other requests took ${Math.round(elapsed)} ms while the provider hung`);
  t.is((await hanging).status, 502);
});
