// Property-based fuzzing of every route the service documents: the operations come from its own
// OpenAPI document (GET /api/v1/openapi.json), so a new route is fuzzed without touching this file.
// Requests (test/support/fuzz-requests.ts) carry hostile path and query parameters, JSON bodies
// (known fields with hostile values, any JSON, deep and wide JSON, not JSON at all) and text
// headers, sent as a user, with an API key, as an admin, anonymously or with a forged token. No
// answer may be a 5xx; every error is problem+json; a refused request appends nothing; and
// afterwards every projection is still running.
//
// Fixed seed and a bounded number of runs per operation (VIALOG_FUZZ_RUNS, default 60;
// VIALOG_FUZZ_SEED to explore other inputs), so CI stays fast and a failure is reproducible.
import test from 'ava';
import fc from 'fast-check';
import pg from 'pg';
import { operationsOf, requestsFor, type Caller, type FuzzRequest, type Operation } from '../support/fuzz-requests.ts';
import { call, loginToken, newUser, bootstrapAdmin, useTestService, type TestUser } from '../support/service.ts';

const RUNS = Number(process.env.VIALOG_FUZZ_RUNS ?? 60);
const SEED = Number(process.env.VIALOG_FUZZ_SEED ?? 20261122);

const admin = { username: 'fuzzadmin', password: 'violet-Harbor-fuzz-admin-kestrel' };
let events: pg.Client;
let user: TestUser;
let adminToken: string;
let apiKey: string;
/** Ids a path parameter may name: the caller's own, another user's, an admin's, unknown ones. */
let ids: string[];

const svc = useTestService(test, {
  ...bootstrapAdmin(admin),
  RATE_LIMIT_PER_USER_PER_MINUTE: '1000000',
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '1000000',
  RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES: '1000000',
  DIALOG_DAILY_MESSAGES: '100000',
});
test.before(async () => {
  const api = svc.api;
  user = await newUser(api, 'fuzz');
  const victim = await newUser(api, 'victim');
  adminToken = await loginToken(api, admin);
  const today = new Date().toISOString().slice(0, 10);
  const create = (who: TestUser, path: string, body: unknown) =>
    call(api, 'POST', path, { token: who.accessToken, body });
  const sample = (who: TestUser) =>
    create(who, '/samples', { sampleType: 'blood', subjectId: 'F001', collectionDate: today });
  const conversation = (who: TestUser) => create(who, '/dialog/conversations', { title: 'fuzz' });
  const key = (name: string) => create(user, '/auth/api-keys', { name });
  apiKey = (await key('fuzz auth')).body.key;
  const me = await call(api, 'GET', '/auth/me', { token: adminToken });
  ids = [
    (await sample(user)).body.id,
    (await sample(victim)).body.id,
    (await conversation(user)).body.id,
    (await conversation(victim)).body.id,
    (await key('fuzz target')).body.id,
    victim.id,
    me.body.id,
    '00000000-0000-0000-0000-000000000000',
  ];
  events = new pg.Client({ connectionString: svc.db.url });
  await events.connect();
});
test.after.always(async () => {
  await events?.end();
});

async function lastPosition(): Promise<string> {
  return (await events.query<{ p: string }>('SELECT coalesce(max(position), 0)::text AS p FROM events')).rows[0]!.p;
}

/** Events a request appended after `position`, by its request id (an earlier streamed reply may land meanwhile). */
async function appendedBy(requestId: string, position: string): Promise<number> {
  const sql = "SELECT count(*)::int AS n FROM events WHERE position > $1::bigint AND metadata->>'requestId' = $2";
  return (await events.query<{ n: number }>(sql, [position, requestId])).rows[0]!.n;
}

function credentials(who: Caller): Record<string, string> {
  switch (who) {
    case 'user':
      return { authorization: `Bearer ${user.accessToken}` };
    case 'apiKey':
      return { 'x-api-key': apiKey };
    case 'admin':
      return { authorization: `Bearer ${adminToken}` };
    case 'forged':
      return { authorization: `Bearer ${user.accessToken.split('.').slice(0, 2).join('.')}.AAAA` };
    case 'anonymous':
      return {};
  }
}

const show = (text: string) =>
  JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text);

/**
 * Refused but appending by design: password checks and refresh tokens of real accounts record
 * failures; a registration that loses a name race releases the reservation it made. An API key's
 * first use of the day is recorded whatever the answer.
 */
const mayAppendWhenRefused = (op: Operation, who: Caller) =>
  who === 'apiKey' || /^\/api\/v1\/auth\/(register|login|refresh|logout|password|me)$/.test(op.path);

function isProblem(response: Response, text: string): boolean {
  const problem = JSON.parse(text) as { code?: unknown; status?: unknown };
  const type = response.headers.get('content-type') ?? '';
  const shaped = typeof problem.code === 'string' && problem.status === response.status;
  return type.startsWith('application/problem+json') && shaped;
}

/** Sends the request; throws (naming the request) when the answer breaks a property. */
async function exercise(op: Operation, request: FuzzRequest): Promise<number> {
  let path = op.path;
  op.pathParams.forEach((p, i) => (path = path.replace(`{${p.name}}`, request.params[i]!)));
  const query = request.query.join('&');
  const headers = { ...request.headers };
  const before = await lastPosition();
  const response = await fetch(`${svc.url}${path}${query ? `?${query}` : ''}`, {
    method: op.method,
    headers: { 'content-type': 'application/json', ...headers, ...credentials(request.who) },
    ...(request.body ? { body: request.body.text } : {}),
  });
  const text = await response.text();
  const body = show(request.body?.text ?? '');
  const what = `${op.method} ${path}?${query} as ${request.who}, headers ${JSON.stringify(headers)}, body ${body}`;
  if (response.status >= 500) throw new Error(`${response.status} for ${what}: ${show(text)}`);
  if (/^event: error$/m.test(text) && text.includes('"status":500')) throw new Error(`a streamed 500 for ${what}`);
  if (response.status < 400) return response.status;
  if (!isProblem(response, text)) throw new Error(`${response.status} is not problem+json for ${what}`);
  const requestId = response.headers.get('x-request-id') ?? '';
  if (!mayAppendWhenRefused(op, request.who) && (await appendedBy(requestId, before)) > 0) {
    throw new Error(`${response.status} appended events for ${what}`);
  }
  return response.status;
}

test.serial('every route, fuzzed: no 5xx, errors are problems, refused requests append nothing', async (t) => {
  const ops = operationsOf((await call(svc.api, 'GET', '/openapi.json')).body);
  t.timeout(Math.max(120_000, ops.length * RUNS * 100)); // more runs (VIALOG_FUZZ_RUNS) take longer
  t.true(ops.length >= 30, `the OpenAPI document lists the routes (${ops.length})`);
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (const op of ops) {
    const property = fc.asyncProperty(requestsFor(op, ids), async (request) => {
      const status = await exercise(op, request);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    try {
      await fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: true });
    } catch (error) {
      // The property's own message says what went wrong and with which request.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      failures.push(`${op.method} ${op.path}: ${cause.slice(0, 3000)}`);
    }
  }
  t.deepEqual(failures, []);
  t.log(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
  t.true(
    [...statuses.keys()].some((s) => s < 300),
    'some requests get through (the fuzzing reaches the handlers)',
  );
});

test.serial('after the fuzzing every projection is still running', async (t) => {
  // A fuzzed admin may have asked for a rebuild: let it finish.
  const deadline = Date.now() + 60_000;
  let statuses = await svc.service.engine.status();
  while (statuses.some((s) => s.status === 'rebuilding' || s.status === 'catching_up') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    statuses = await svc.service.engine.status();
  }
  t.deepEqual(
    statuses.filter((s) => s.status !== 'running' || s.lastError !== null).map((s) => `${s.name}: ${s.status}`),
    [],
  );
});
