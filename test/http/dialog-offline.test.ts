// The offline assistant (no LLM_BASE_URL: the embedded default) answers from the caller's own
// samples and says plainly what it cannot; the daily quota.
import test from 'ava';
import { call, newUser, useTestService, type TestUser } from '../support/service.ts';

let user: TestUser;
let other: TestUser;
const today = new Date().toISOString().slice(0, 10);

const svc = useTestService(test, { DIALOG_DAILY_MESSAGES: '12' });
test.before(async () => {
  user = await newUser(svc.api, 'offline');
  other = await newUser(svc.api, 'stranger');
  for (const body of [
    { sampleType: 'blood', subjectId: 'P001', collectionDate: today },
    { sampleType: 'blood', subjectId: 'P001', collectionDate: today, status: 'processing' },
    { sampleType: 'tissue', subjectId: 'P002', collectionDate: today, storageLocation: 'freezer-1-rowA' },
  ]) {
    await call(svc.api, 'POST', '/samples', { token: user.accessToken, body });
  }
  await call(svc.api, 'POST', '/samples', {
    token: other.accessToken,
    body: { sampleType: 'saliva', subjectId: 'P001', collectionDate: today, notes: 'not yours' },
  });
});

const ask = async (content: string, who: TestUser = user) => {
  const id = (await call(svc.api, 'POST', '/dialog/conversations', { token: who.accessToken, body: {} })).body
    .id as string;
  return call(svc.api, 'POST', `/dialog/conversations/${id}/messages`, { token: who.accessToken, body: { content } });
};

test("counts by status and type, from the caller's samples only", async (t) => {
  const r = await ask('How many samples do I have?');
  t.is(r.status, 201);
  t.is(r.body.assistantMessage.model, 'vialog-offline');
  t.is(
    r.body.assistantMessage.content,
    'You have 3 samples.\nBy status: 2 collected, 1 processing, 0 archived.\nBy type: 2 blood, 0 saliva, 1 tissue.\n' +
      'By lab: Personal lab 3.',
  );
});

test("it answers over every lab of the caller and names each sample's lab", async (t) => {
  const [head, member] = await Promise.all([newUser(svc.api, 'head'), newUser(svc.api, 'member')]);
  const lab = await call(svc.api, 'POST', '/labs', { token: head.accessToken, body: { name: 'Virology' } });
  const labId = lab.body.id as string;
  await call(svc.api, 'POST', `/labs/${labId}/members`, {
    token: head.accessToken,
    body: { username: member.username, role: 'viewer' },
  });
  await call(svc.api, 'POST', '/samples', {
    token: head.accessToken,
    body: { labId, sampleType: 'saliva', subjectId: 'V123', collectionDate: today },
  });
  const content = (await ask('samples of V123', member)).body.assistantMessage.content as string;
  t.true(content.startsWith('Your samples of subject V123 (1):'), content);
  t.regex(content, /lab Virology/);
  t.regex((await ask('how many samples?', member)).body.assistantMessage.content as string, /By lab: Virology 1\./);
});

test("a subject's samples, never another user's of the same subject", async (t) => {
  const r = await ask('show me the samples of P001');
  const content = r.body.assistantMessage.content as string;
  t.true(content.startsWith('Your samples of subject P001 (2):'));
  t.false(content.includes('saliva'));
  const none = await ask('what about P999?');
  t.is(none.body.assistantMessage.content, 'You have no samples of subject P999.');
});

test('recent samples', async (t) => {
  const r = await ask('what are my latest samples?');
  const content = r.body.assistantMessage.content as string;
  t.true(content.startsWith('Your most recently registered samples:'));
  t.is(content.split('\n').length, 4);
});

test('what it cannot answer, it says plainly', async (t) => {
  const r = await ask('What is the meaning of life?');
  t.regex(r.body.assistantMessage.content, /^I cannot answer that offline\./);
  t.regex(r.body.assistantMessage.content, /LLM_BASE_URL/);
});

test('a user without samples is told so', async (t) => {
  const fresh = await newUser(svc.api, 'empty');
  t.is((await ask('how many samples?', fresh)).body.assistantMessage.content, 'You have no samples yet.');
});

test.serial(
  'the daily quota: 429 quota_exceeded with Retry-After and X-RateLimit-*; usage shows where the user stands',
  async (t) => {
    const heavy = await newUser(svc.api, 'heavy');
    const id = (await call(svc.api, 'POST', '/dialog/conversations', { token: heavy.accessToken, body: {} })).body
      .id as string;
    for (let i = 0; i < 12; i++)
      t.is(
        (
          await call(svc.api, 'POST', `/dialog/conversations/${id}/messages`, {
            token: heavy.accessToken,
            body: { content: `count ${i}` },
          })
        ).status,
        201,
      );
    const over = await call(svc.api, 'POST', `/dialog/conversations/${id}/messages`, {
      token: heavy.accessToken,
      body: { content: 'one more' },
    });
    t.is(over.status, 429);
    t.is(over.body.code, 'quota_exceeded');
    t.true(Number(over.headers.get('retry-after')) > 0);
    t.is(over.headers.get('x-ratelimit-limit'), '12');
    t.is(over.headers.get('x-ratelimit-remaining'), '0');
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    t.is(Number(over.headers.get('x-ratelimit-reset')), midnight.getTime() / 1000, 'the quota resets at midnight UTC');
    const usage = await call(svc.api, 'GET', '/dialog/usage', { token: heavy.accessToken });
    t.deepEqual(usage.body, {
      today: { messages: 12, promptTokens: 0, completionTokens: 0 },
      quota: { messages: 12, tokens: 200000 },
    });
    t.is(
      (await call(svc.api, 'GET', `/dialog/conversations/${id}/messages?limit=100`, { token: heavy.accessToken })).body
        .total,
      24,
      'the refused message was not stored',
    );
  },
);
