// Property-based fuzzing of every route the service documents: the operations come from its own
// OpenAPI document (GET /api/v1/openapi.json), so a new route is fuzzed without touching this file.
// Each request has hostile parts where the route reads input — path parameters, query parameters,
// JSON bodies (known fields with hostile values, any JSON, deep and wide JSON, not JSON at all),
// text headers — sent as a user, with an API key, as an admin, anonymously or with a forged token.
// Hostile means: random Unicode with C0 controls, U+0000 and lone surrogates (and the invalid
// UTF-8 that would carry them), dates at and past the years 1900 and 9999, huge and odd numbers,
// forged cursors. No answer may be a 5xx; every error is problem+json; a refused request appends
// nothing; and afterwards every projection is still running.
//
// Fixed seed and a bounded number of runs per operation (VIALOG_FUZZ_RUNS, default 60;
// VIALOG_FUZZ_SEED to explore other inputs), so CI stays fast and a failure is reproducible.
import test from 'ava';
import fc from 'fast-check';
import pg from 'pg';
import { call, newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

const RUNS = Number(process.env.VIALOG_FUZZ_RUNS ?? 60);
const SEED = Number(process.env.VIALOG_FUZZ_SEED ?? 20261122);

const admin = { username: 'fuzzadmin', password: 'violet-Harbor-fuzz-admin-kestrel' };
let svc: TestService;
let events: pg.Client;
let user: TestUser;
let adminToken: string;
let apiKey: string;
/** Ids a path parameter may name: the caller's own, another user's, an admin's, unknown ones. */
let ids: string[];

test.before(async () => {
  svc = await startTestService({
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    RATE_LIMIT_PER_USER_PER_MINUTE: '1000000',
    RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '1000000',
    RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES: '1000000',
    DIALOG_DAILY_MESSAGES: '100000',
  });
  const api = svc.api;
  user = await newUser(api, 'fuzz');
  const victim = await newUser(api, 'victim');
  adminToken = (await call(api, 'POST', '/auth/login', { body: { login: admin.username, password: admin.password } })).body.accessToken;
  const today = new Date().toISOString().slice(0, 10);
  const sample = (who: TestUser) => call(api, 'POST', '/samples', { token: who.accessToken, body: { sampleType: 'blood', subjectId: 'F001', collectionDate: today } });
  const conversation = (who: TestUser) => call(api, 'POST', '/dialog/conversations', { token: who.accessToken, body: { title: 'fuzz' } });
  const key = (name: string) => call(api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name } });
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
  await svc?.stop();
});

const lastPosition = async (): Promise<string> => (await events.query<{ p: string }>('SELECT coalesce(max(position), 0)::text AS p FROM events')).rows[0]!.p;
/** Events a request appended after `position`, found by its request id (a streamed reply of an earlier request may land meanwhile). */
const appendedBy = async (requestId: string, position: string): Promise<number> =>
  (await events.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE position > $1::bigint AND metadata->>'requestId' = $2", [position, requestId])).rows[0]!.n;

// --- the operations, from the OpenAPI document ---------------------------------------------------

interface JsonSchema {
  type?: string;
  anyOf?: JsonSchema[];
  format?: string;
  enum?: unknown[];
  example?: unknown;
  properties?: Record<string, JsonSchema>;
}
interface Param {
  name: string;
  in: string;
  schema?: JsonSchema;
}
interface Operation {
  method: string;
  path: string;
  pathParams: Param[];
  query: Param[];
  body: JsonSchema | undefined;
}

async function operations(): Promise<Operation[]> {
  const doc = (await call(svc.api, 'GET', '/openapi.json')).body as {
    paths: Record<string, Record<string, { parameters?: (Param | { $ref: string })[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const params = (op.parameters ?? []).filter((p): p is Param => !('$ref' in p));
      return {
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path'),
        query: params.filter((p) => p.in === 'query'),
        body: op.requestBody?.content?.['application/json']?.schema,
      };
    }),
  );
}

// --- hostile values ------------------------------------------------------------------------------------

const SPECIAL_CHARS = ['\u0000', '\u0001', '\u0008', '\u000b', '\u001b', '\u001f', '\t', '\n', '\r', '\ud800', '\udbff', '\udc00', '\udfff', '\u007f', '\u0085', '\u2028', '\u202e', '\ufeff', '\uffff', '🧪', 'é', '"', '\\', '%', '/', '.'];
const hostileChar = fc.oneof(fc.constantFrom(...SPECIAL_CHARS), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }));
const EDGE_DATES = ['0000-01-01', '0001-01-01', '1899-12-31', '1900-01-01', '9999-12-31', '10000-01-01', '+010000-01-01', '-000001-01-01', '2026-02-29', '2024-02-29', '2026-13-01', '2026-00-10'];
const EDGE_TIMESTAMPS = EDGE_DATES.map((d) => `${d}T00:00:00Z`).concat(['9999-12-31T23:59:59.999999999Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00+14:00', '1900-01-01T00:00:00.000Z']);
const SPECIAL_STRINGS = ['', ' ', '\u0000', '\ud800', 'a\udc00', '__proto__', 'constructor', 'toString', "' OR 1=1 --", '../../etc/passwd', 'NaN', 'null', '%00', '\\u0000', 'P001', 'P' + '9'.repeat(400), 'x'.repeat(5000)];
const hostileText = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_STRINGS, ...EDGE_DATES, ...EDGE_TIMESTAMPS) },
  { weight: 4, arbitrary: fc.string({ unit: hostileChar, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: hostileChar, minLength: 200, maxLength: 3000 }) },
);
const hostileNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, 5e-324),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileText,
    hostileNumber,
    fc.constantFrom(null, true, false),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileText, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Percent-encoded UTF-8 (a lone surrogate becomes U+FFFD: `rawBytes` sends what UTF-8 cannot). */
const percent = (text: string) => [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
const rawBytes = fc.oneof(
  fc.constantFrom('%00', '%ED%A0%80', '%C0%80', '%FF', '%F0%9F', '%E2%82', '%', '%zz', '%2F', '%5C'),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
);
const encodedText = fc.oneof({ weight: 4, arbitrary: hostileText.map(percent) }, { weight: 1, arbitrary: rawBytes });

const base64url = (json: unknown) => Buffer.from(JSON.stringify(json)).toString('base64url');
const zeroId = '00000000-0000-4000-8000-000000000000';
const cursor = fc.oneof(
  fc.constantFrom(
    { collectionDate: '0000-01-01', id: zeroId },
    { collectionDate: '9999-12-31', id: zeroId },
    { createdAt: '0000-01-01T00:00:00.000Z', id: zeroId },
    { at: '0000-01-01T00:00:00.000Z', id: zeroId },
    { seq: 1e300 },
    { seq: -1 },
    { seq: 2 ** 40 },
    { commit: '9'.repeat(25), prepare: '1' },
    { commit: '1', prepare: '9223372036854775808' },
    { commit: '-1', prepare: '-1' },
  ).map(base64url),
  hostileJson.map(base64url),
  encodedText,
  fc.constant('A'.repeat(600)),
);

// --- requests ------------------------------------------------------------------------------------------
// Most requests are plausible in every part but one hostile part (so the hostile value gets past the
// other checks to the code that handles it); the rest are hostile throughout.

/** Unusual text that is still text: it must be accepted and stored (and read back) everywhere. */
const acceptableText = fc.string({
  unit: fc.oneof(fc.constantFrom('\t', '\n', '\r', '\u007f', '\u0085', '\u2028', '\u202e', '\ufeff', '\uffff', '🧪', 'é', '"', '\\', '%', "'"), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
  minLength: 1,
  maxLength: 60,
});

const today = new Date().toISOString().slice(0, 10);
const isText = (schema: JsonSchema) => schema.type === 'string' || (schema.anyOf ?? []).some((s) => s.type === 'string');

function plausibleParam(param: Param): fc.Arbitrary<string> {
  return param.schema?.format === 'uuid' ? fc.constantFrom(...ids) : fc.constantFrom('P001', 'samples');
}

function hostileParam(param: Param): fc.Arbitrary<string> {
  return param.schema?.format === 'uuid' ? fc.oneof(fc.uuid(), fc.constantFrom(...ids).map((id) => id.toUpperCase()), encodedText) : encodedText;
}

function plausibleQuery(param: Param): fc.Arbitrary<string | undefined> {
  const schema = param.schema ?? {};
  if (param.name === 'cursor') return fc.constant(undefined);
  if (schema.enum) return fc.constantFrom(...schema.enum.map(String));
  if (schema.format === 'date') return fc.constant(today);
  if (schema.format === 'date-time') return fc.constant(percent(new Date().toISOString()));
  if (schema.type === 'integer') return fc.constantFrom('1', '20', '100');
  return acceptableText.map(percent);
}

function hostileQuery(param: Param): fc.Arbitrary<string> {
  const schema = param.schema ?? {};
  if (param.name === 'cursor') return cursor;
  if (schema.enum) return fc.oneof(fc.constantFrom(...schema.enum.map((v) => String(v).toUpperCase())), encodedText);
  if (schema.format === 'date') return fc.oneof(fc.constantFrom(...EDGE_DATES), encodedText);
  if (schema.format === 'date-time') return fc.oneof(fc.constantFrom(...EDGE_TIMESTAMPS).map(percent), encodedText);
  if (schema.type === 'integer') return fc.oneof(fc.constantFrom('-1', '0', '101', '1e2', '1e400', '99999999999999999999', 'NaN', '0x10', ''), encodedText);
  return encodedText;
}

/** A value a documented body field accepts: its example or enum, unusual but acceptable text, a small number. */
function plausible(schema: JsonSchema): fc.Arbitrary<unknown> {
  // An example date stands for "a recent date": today's keeps meeting rules such as "not older than 10 years".
  const examples = [schema.example, ...(schema.enum ?? [])].filter((v) => v !== undefined).map((v) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? today : v));
  if (examples.length > 0) return fc.constantFrom(...examples);
  if (isText(schema)) return acceptableText;
  if (schema.type === 'integer' || schema.type === 'number') return fc.integer({ min: 0, max: 100 });
  return hostileJson;
}

function hostile(schema: JsonSchema): fc.Arbitrary<unknown> {
  const typed = schema.type === 'number' || schema.type === 'integer' ? hostileNumber : hostileText;
  return fc.oneof({ weight: 3, arbitrary: typed }, { weight: 1, arbitrary: hostileJson });
}

interface Body {
  readonly text: string;
  /** Deeply nested: not sent with an Idempotency-Key (its canonicalisation is another issue's). */
  readonly deep: boolean;
}
const json = (value: unknown): Body => ({ text: JSON.stringify(value), deep: false });
const fieldsOf = (op: Operation) => Object.entries(op.body?.properties ?? {});
const bodyRecord = (op: Operation, value: (schema: JsonSchema) => fc.Arbitrary<unknown>) =>
  fc.record(Object.fromEntries(fieldsOf(op).map(([name, schema]) => [name, value(schema)])), { requiredKeys: [] });

/** A whole hostile body: fields of any value with stray ones, any JSON, deep, wide, or not JSON. */
function hostileBody(op: Operation): fc.Arbitrary<Body> {
  const extraFields = fc.option(fc.dictionary(hostileText, hostileJson, { minKeys: 1, maxKeys: 2 }), { nil: {}, freq: 3 });
  const mixed = fc.tuple(bodyRecord(op, (schema) => fc.oneof(plausible(schema), hostile(schema))), extraFields).map(([known, extra]) => json({ ...known, ...extra }));
  const deep = fc.tuple(fc.integer({ min: 100, max: 30_000 }), fc.constantFrom('[', '{"a":')).map(([n, open]): Body => ({ text: open.repeat(n) + (open === '[' ? ']' : '}').repeat(n), deep: true }));
  const wide = fc.integer({ min: 500, max: 3000 }).chain((n) => fc.constantFrom(json(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))), json(Array.from({ length: n * 2 }, () => '\u0000'))));
  const raw = fc.oneof(
    fc.constantFrom('{', '[]', 'null', '"x"', '{"a":1e400}', '{"limit":-1e400}', '{"n":123456789012345678901234567890}', '{"__proto__":{"admin":true}}', '\ufeff{}', '{"a":"\\ud800"}', '{"a":"\\u0000"}'),
    fc.string({ unit: hostileChar, maxLength: 60 }),
  ).map((text): Body => ({ text, deep: false }));
  return fc.oneof({ weight: 3, arbitrary: mixed }, { weight: 2, arbitrary: hostileJson.map(json) }, deep, wide, raw);
}

const printable = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });
const hostileHeaders: Record<string, fc.Arbitrary<string>> = {
  'x-change-reason': fc.oneof(encodedText, printable(600)),
  'if-match': fc.oneof(fc.constantFrom('"1"', '"2"', '*', 'W/"1"', '"99999999999999999999"', '"-1"', '""'), printable(20)),
  'idempotency-key': printable(200),
  'x-request-id': printable(200),
  accept: fc.constantFrom('text/event-stream', 'text/html'),
  'content-type': fc.constantFrom('text/plain', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/merge-patch+json'),
};

type Caller = 'user' | 'apiKey' | 'admin' | 'anonymous' | 'forged';

interface Request {
  readonly params: string[];
  /** `name=value` pairs, already percent-encoded. */
  readonly query: string[];
  readonly body: Body | undefined;
  readonly headers: Record<string, string>;
  readonly who: Caller;
}

function plausibleRequest(op: Operation): fc.Arbitrary<Request> {
  const query = op.query.map((p) => fc.option(plausibleQuery(p), { nil: undefined }).map((v) => (v === undefined ? undefined : `${p.name}=${v}`)));
  return fc.record({
    params: fc.tuple(...op.pathParams.map(plausibleParam)),
    query: fc.tuple(...query).map((pairs) => pairs.filter((pair): pair is string => pair !== undefined)),
    body: op.body ? bodyRecord(op, plausible).map(json) : fc.constant(undefined),
    headers: fc.constant({}),
    who: fc.constantFrom<Caller>('user', 'user', 'admin', 'apiKey'),
  });
}

/** One part of a plausible request made hostile: a path or query parameter, a body field, the body, a header, the caller. */
function focused(op: Operation): fc.Arbitrary<Request> {
  type Change = (base: Request) => fc.Arbitrary<Request>;
  const changes: Change[] = [
    ...op.pathParams.map((p, i): Change => (base) => hostileParam(p).map((v) => ({ ...base, params: base.params.map((old, j) => (j === i ? v : old)) }))),
    ...op.query.map((p): Change => (base) => hostileQuery(p).map((v) => ({ ...base, query: [...base.query.filter((q) => !q.startsWith(`${p.name}=`)), `${p.name}=${v}`] }))),
    (base) => fc.tuple(encodedText, encodedText).map(([k, v]) => ({ ...base, query: [...base.query, `${k}=${v}`] })),
    ...fieldsOf(op).map(([name, schema]): Change => (base) => hostile(schema).map((v) => ({ ...base, body: json({ ...(JSON.parse(base.body?.text ?? '{}') as object), [name]: v }) }))),
    ...(op.method === 'GET' ? [] : [(base: Request) => hostileBody(op).map((body) => ({ ...base, body }))]),
    ...Object.entries(hostileHeaders).map(([name, value]): Change => (base) => value.map((v) => ({ ...base, headers: { ...base.headers, [name]: v } }))),
    (base) => fc.constantFrom<Caller>('anonymous', 'forged', 'apiKey', 'admin').map((who) => ({ ...base, who })),
  ];
  return fc.tuple(plausibleRequest(op), fc.constantFrom(...changes)).chain(([base, change]) => change(base));
}

/** Hostile throughout. */
function chaotic(op: Operation): fc.Arbitrary<Request> {
  return fc.record({
    params: fc.tuple(...op.pathParams.map((p) => fc.oneof(plausibleParam(p), hostileParam(p)))),
    query: fc.tuple(...op.query.map((p) => fc.option(hostileQuery(p).map((v) => `${p.name}=${v}`), { nil: undefined }))).map((pairs) => pairs.filter((pair): pair is string => pair !== undefined)),
    body: op.method === 'GET' ? fc.constant(undefined) : fc.option(hostileBody(op), { nil: undefined, freq: op.body ? 8 : 2 }),
    headers: fc.record(hostileHeaders, { requiredKeys: [] }).map((h) => Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => e[1] !== undefined))),
    who: fc.constantFrom<Caller>('user', 'apiKey', 'admin', 'anonymous', 'forged'),
  });
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

const requestFor = (op: Operation) => fc.oneof({ weight: 3, arbitrary: focused(op) }, { weight: 1, arbitrary: chaotic(op) });

const show = (text: string) => JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text);

/**
 * Refused but appending by design: password checks and refresh tokens of real accounts record
 * failures; a registration that loses a name race releases the reservation it made.
 */
const mayAppendWhenRefused = (op: Operation) => /^\/api\/v1\/auth\/(register|login|refresh|logout|password|me)$/.test(op.path);

async function exercise(op: Operation, request: Request): Promise<number> {
  let path = op.path;
  op.pathParams.forEach((p, i) => (path = path.replace(`{${p.name}}`, request.params[i]!)));
  const query = request.query.join('&');
  const url = `${svc.url}${path}${query ? `?${query}` : ''}`;
  const extra = { ...request.headers };
  if (request.body?.deep) delete extra['idempotency-key'];
  const before = await lastPosition();
  const response = await fetch(url, {
    method: op.method,
    headers: { 'content-type': 'application/json', ...extra, ...credentials(request.who) },
    ...(request.body ? { body: request.body.text } : {}),
  });
  const text = await response.text();
  const what = `${op.method} ${path}?${query} as ${request.who}, headers ${JSON.stringify(extra)}, body ${show(request.body?.text ?? '')}`;
  if (response.status >= 500) throw new Error(`${response.status} for ${what}: ${show(text)}`);
  if (/^event: error$/m.test(text) && text.includes('"status":500')) throw new Error(`a streamed 500 for ${what}`);
  if (response.status >= 400) {
    const type = response.headers.get('content-type') ?? '';
    const problem = JSON.parse(text) as { code?: unknown; status?: unknown };
    if (!type.startsWith('application/problem+json') || typeof problem.code !== 'string' || problem.status !== response.status) throw new Error(`${response.status} is not problem+json for ${what}`);
    const requestId = response.headers.get('x-request-id') ?? '';
    if (request.who !== 'apiKey' && !mayAppendWhenRefused(op) && (await appendedBy(requestId, before)) > 0) throw new Error(`${response.status} appended events for ${what}`);
  }
  return response.status;
}

test.serial('every documented route, fuzzed: never a 5xx, errors are problem+json, refused requests append nothing', async (t) => {
  const ops = await operations();
  t.timeout(Math.max(120_000, ops.length * RUNS * 100)); // more runs (VIALOG_FUZZ_RUNS) take longer
  t.true(ops.length >= 30, `the OpenAPI document lists the routes (${ops.length})`);
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (const op of ops) {
    try {
      await fc.assert(
        fc.asyncProperty(requestFor(op), async (r) => {
          const status = await exercise(op, r);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
    } catch (error) {
      // The property's own message says what went wrong and with which request.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      failures.push(`${op.method} ${op.path}: ${cause.slice(0, 3000)}`);
    }
  }
  t.deepEqual(failures, []);
  t.log(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
  t.true([...statuses.keys()].some((s) => s < 300), 'some requests got through the checks (the fuzzing reaches the handlers)');
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
