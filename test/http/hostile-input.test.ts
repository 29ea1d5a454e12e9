// Text hygiene at the edge (API.md, Conventions, "Text hygiene"): every input class that once
// answered 500 — or let an event into the log that a read model cannot store — is refused with a
// 4xx problem naming the field, and changes nothing. One test per input class; afterwards every
// projection is still running. Serial: each test counts the events in the log.
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { call, newUser, useTestService, type Answer, type TestUser } from '../support/service.ts';

let user: TestUser;
let sampleId: string;
let conversationId: string;
let events: pg.Client;

const svc = useTestService(test, {
  RATE_LIMIT_PER_USER_PER_MINUTE: '100000',
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '100000',
});
test.before(async () => {
  user = await newUser(svc.api, 'hostile');
  const today = new Date().toISOString().slice(0, 10);
  const token = user.accessToken;
  const sampleBody = { sampleType: 'blood', subjectId: 'H001', collectionDate: today };
  sampleId = (await call(svc.api, 'POST', '/samples', { token, body: sampleBody })).body.id;
  conversationId = (await call(svc.api, 'POST', '/dialog/conversations', { token, body: { title: 'first' } })).body.id;
  events = new pg.Client({ connectionString: svc.db.url });
  await events.connect();
});
test.after.always(async () => {
  await events?.end();
});

const eventCount = async (): Promise<number> =>
  (await events.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]!.n;
const cursor = (key: Record<string, unknown>) => Buffer.from(JSON.stringify(key)).toString('base64url');
const NUL = '\u0000';
const LONE = '\ud800';

interface Expected {
  readonly status: number;
  readonly code: string;
  /** The field the problem must name in errors[].path. */
  readonly path: string;
}

/** The request is refused as expected, names the field, and appends nothing. */
async function refused(t: ExecutionContext, send: () => Promise<Answer>, expected: Expected): Promise<void> {
  const before = await eventCount();
  const r = await send();
  t.is(r.status, expected.status, JSON.stringify(r.body));
  t.is(r.headers.get('content-type'), 'application/problem+json');
  t.is(r.body.code, expected.code);
  const paths = ((r.body.errors ?? []) as { path: string }[]).map((e) => e.path);
  t.true(paths.includes(expected.path), `errors name ${expected.path}: ${JSON.stringify(r.body.errors)}`);
  t.is(await eventCount(), before, 'nothing appended');
}

const send =
  (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    call(svc.api, method, path, { token: user.accessToken, body, headers });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) => send('POST', path, body, headers);
const get = (path: string) => () => call(svc.api, 'GET', path, { token: user.accessToken });
const body422 = (path: string): Expected => ({ status: 422, code: 'validation_failed', path });
const query400 = (path: string): Expected => ({ status: 400, code: 'invalid_query', path });
const sample = { sampleType: 'blood', subjectId: 'H002', collectionDate: new Date().toISOString().slice(0, 10) };

test.after.always('every projection is still running', async (t) => {
  if (!svc) return;
  const failed = (await svc.service.engine.status()).filter((s) => s.status === 'failed');
  t.deepEqual(
    failed.map((s) => s.name),
    [],
  );
});

test.serial('U+0000 and a lone surrogate in sample notes: 422 naming notes', async (t) => {
  await refused(t, post('/samples', { ...sample, notes: `fasting${NUL}` }), body422('notes'));
  await refused(t, post('/samples', { ...sample, notes: `fasting${LONE}` }), body422('notes'));
});

test.serial('other C0 controls are refused too; tab, newline and carriage return are text', async (t) => {
  await refused(t, post('/samples', { ...sample, notes: 'esc\u001b[31m' }), body422('notes'));
  const ok = await post('/samples', { ...sample, notes: 'line 1\r\nline\t2 🧪' })();
  t.is(ok.status, 201);
  t.is(ok.body.notes, 'line 1\r\nline\t2 🧪');
});

test.serial('U+0000 in a nested value and in a key: 422 naming the JSON path', async (t) => {
  await refused(t, post('/samples', { ...sample, extra: { list: ['ok', `x${NUL}`] } }), body422('extra.list.1'));
  await refused(t, post('/samples', { ...sample, [`no${NUL}tes`]: 'x' }), body422('no\\u0000tes'));
});

test.serial('U+0000 and a lone surrogate in the body reason: 422 naming reason', async (t) => {
  const patch = (reason: string) => send('PATCH', `/samples/${sampleId}`, { status: 'processing', reason });
  await refused(t, patch(`why${NUL}`), body422('reason'));
  await refused(t, patch(`why${LONE}`), body422('reason'));
});

test.serial('X-Change-Reason: %00 (decoded) and a raw control: 422 naming X-Change-Reason', async (t) => {
  const patch = (header: string) =>
    send('PATCH', `/samples/${sampleId}`, { status: 'processing' }, { 'x-change-reason': header });
  await refused(t, patch('%00'), body422('X-Change-Reason'));
  await refused(t, patch('why%1B'), body422('X-Change-Reason'));
});

test.serial('U+0000 and a lone surrogate in an API key name: 422 naming name', async (t) => {
  await refused(t, post('/auth/api-keys', { name: `import${NUL}` }), body422('name'));
  await refused(t, post('/auth/api-keys', { name: `import${LONE}` }), body422('name'));
});

test.serial('U+0000, U+0000 alone and a lone surrogate in a conversation title: 422 naming title', async (t) => {
  await refused(t, post('/dialog/conversations', { title: `notes${NUL}` }), body422('title'));
  await refused(t, post('/dialog/conversations', { title: NUL }), body422('title'));
  await refused(t, post('/dialog/conversations', { title: LONE }), body422('title'));
});

test.serial('U+0000 and a lone surrogate in a dialog message: 422 naming content, never a poison event', async (t) => {
  const ask = (content: string) => post(`/dialog/conversations/${conversationId}/messages`, { content });
  await refused(t, ask(`how many${NUL}?`), body422('content'));
  await refused(t, ask(`how many${LONE}?`), body422('content'));
});

test.serial('U+0000 and a lone surrogate in the login name: 422 naming login', async (t) => {
  const logIn = (login: string) => () => call(svc.api, 'POST', '/auth/login', { body: { login, password: 'x' } });
  await refused(t, logIn(`${user.username}${NUL}`), body422('login'));
  await refused(t, logIn(`a${LONE}@lab.example`), body422('login'));
});

test.serial('U+0000 in a filter: 400 invalid_query naming the parameter', async (t) => {
  await refused(t, get('/samples?subjectId=%00'), query400('subjectId'));
  await refused(t, get('/audit?streamId=%00'), query400('streamId'));
  await refused(t, get('/audit?type=a%00'), query400('type'));
  await refused(t, get('/audit/export?actorId=%01'), query400('actorId'));
});

test.serial('U+0000 in a path segment: 400 invalid_id naming the parameter', async (t) => {
  await refused(t, get('/samples/subject/%00'), { status: 400, code: 'invalid_id', path: 'subjectId' });
  await refused(t, get('/samples/subject/P%001'), { status: 400, code: 'invalid_id', path: 'subjectId' });
});

test.serial('year 0000 (and anything outside 1900–9999) in date filters: 400 invalid_query', async (t) => {
  await refused(t, get('/samples?collectedFrom=0000-01-01'), query400('collectedFrom'));
  await refused(t, get('/samples/subject/P001?collectedTo=1899-12-31'), query400('collectedTo'));
  await refused(t, get('/audit?from=0000-01-01T00:00:00Z'), query400('from'));
  await refused(t, get('/audit/export?to=0000-01-01T00:00:00.000Z'), query400('to'));
  t.is((await get('/samples?collectedFrom=1900-01-01&collectedTo=9999-12-31')()).status, 200);
});

test.serial('year 0000 inside the cursors of samples, API keys and conversations: 400 invalid_query', async (t) => {
  const zeroUuid = '00000000-0000-4000-8000-000000000000';
  const zero = '0000-01-01T00:00:00.000Z';
  const zeroDate = cursor({ collectionDate: '0000-01-01', id: zeroUuid });
  await refused(t, get(`/samples?cursor=${zeroDate}`), query400('cursor'));
  await refused(t, get(`/auth/api-keys?cursor=${cursor({ createdAt: zero, id: zeroUuid })}`), query400('cursor'));
  await refused(t, get(`/dialog/conversations?cursor=${cursor({ at: zero, id: zeroUuid })}`), query400('cursor'));
});

test.serial('an audit cursor beyond bigint and a message cursor beyond integer: 400 invalid_query', async (t) => {
  await refused(t, get(`/audit?cursor=${cursor({ commit: '1', prepare: '9223372036854775808' })}`), query400('cursor'));
  await refused(t, get(`/audit?cursor=${cursor({ commit: '9'.repeat(21), prepare: '1' })}`), query400('cursor'));
  const messages = `/dialog/conversations/${conversationId}/messages`;
  await refused(t, get(`${messages}?cursor=${cursor({ seq: 2 ** 40 })}`), query400('cursor'));
});
