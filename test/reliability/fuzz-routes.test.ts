// Hostile input to every route: random and malicious bodies, query strings, headers and ids.
// No answer may be a 500, every error must be problem+json, and a refused request appends nothing.
import test from 'ava';
import fc from 'fast-check';
import pg from 'pg';
import { call, newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let user: TestUser;
let sampleId: string;
let conversationId: string;

test.before(async () => {
  svc = await startTestService({ RATE_LIMIT_PER_USER_PER_MINUTE: '1000000', RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '1000000' });
  user = await newUser(svc.api, 'fuzz');
  sampleId = (await call(svc.api, 'POST', '/samples', { token: user.accessToken, body: { sampleType: 'blood', subjectId: 'F001', collectionDate: new Date().toISOString().slice(0, 10) } })).body.id;
  conversationId = (await call(svc.api, 'POST', '/dialog/conversations', { token: user.accessToken, body: {} })).body.id;
});
test.after.always(async () => {
  await svc?.stop();
});

async function eventCount(): Promise<number> {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

const routes = (): { method: string; path: string }[] => [
  { method: 'POST', path: '/auth/register' },
  { method: 'POST', path: '/auth/login' },
  { method: 'POST', path: '/auth/refresh' },
  { method: 'POST', path: '/auth/logout' },
  { method: 'POST', path: '/auth/password' },
  { method: 'POST', path: '/auth/api-keys' },
  { method: 'DELETE', path: '/auth/me' },
  { method: 'POST', path: '/samples' },
  { method: 'PATCH', path: `/samples/${sampleId}` },
  { method: 'PUT', path: `/samples/${sampleId}` },
  { method: 'DELETE', path: `/samples/${sampleId}` },
  { method: 'POST', path: `/dialog/conversations/${conversationId}/messages` },
  { method: 'POST', path: '/dialog/conversations' },
];

// Values a careless parser chokes on.
const hostile = fc.oneof(
  fc.constantFrom(null, true, -1, 1e308, '', ' ', '\u0000', '\ud800', '__proto__', 'constructor', '<script>', "' OR 1=1 --", '../../etc/passwd', 'NaN', '2026-02-30', 'P' + '9'.repeat(400)),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);
const fieldNames = fc.constantFrom('username', 'email', 'password', 'login', 'refreshToken', 'currentPassword', 'newPassword', 'name', 'sampleType', 'subjectId', 'collectionDate', 'status', 'storageLocation', 'notes', 'reason', 'content', 'title', '__proto__', 'id', 'ownerId', 'version');
const bodies = fc.oneof(
  fc.dictionary(fieldNames, hostile, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 60 }), // not JSON at all
  fc.constantFrom('{', '[]', 'null', '"x"', '{"__proto__": {"admin": true}}', '{"a":' + '['.repeat(500) + '}'),
);

function isProblem(r: { status: number; headers: Headers; body: unknown }): boolean {
  const type = r.headers.get('content-type') ?? '';
  const body = r.body as { code?: unknown; status?: unknown } | undefined;
  return type.startsWith('application/problem+json') && typeof body?.code === 'string' && body.status === r.status;
}

async function send(method: string, path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${svc.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

test.serial('random and hostile bodies: never a 500, every error problem+json, refused requests append nothing', async (t) => {
  const list = routes();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: list.length - 1 }), bodies, async (index, body) => {
      const { method, path } = list[index]!;
      const before = await eventCount();
      const r = await send(method, path, body);
      if (r.status >= 500) throw new Error(`${method} ${path} answered ${r.status} to ${body.slice(0, 200)}`);
      if (r.status >= 400) {
        if (!isProblem(r)) throw new Error(`${method} ${path} ${r.status} is not problem+json`);
        // Login failures of existing accounts are recorded on purpose; nothing else may append.
        if (!path.startsWith('/auth/login') && (await eventCount()) !== before) throw new Error(`${method} ${path} ${r.status} appended events`);
      }
    }),
    { numRuns: 250, seed: 20261122 },
  );
  t.pass('250 hostile requests, no 500, no stray event');
});

test.serial('hostile ids, query strings and headers', async (t) => {
  const paths = fc.oneof(
    fc.string({ maxLength: 30 }).map((s) => `/samples/${encodeURIComponent(s)}`),
    fc.string({ maxLength: 30 }).map((s) => `/samples?${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
    fc.constantFrom('/samples?limit=-1', '/samples?limit=1e9', '/samples?cursor=%00', '/samples?status[]=x', '/samples?collectedFrom=2026-02-30', '/audit?from=x', '/audit/export?format=xml', `/samples/${'a'.repeat(5000)}`, '/dialog/conversations?cursor=eyJ9', '/samples/subject/%F0%9F%A7%AA'),
  );
  const headers = fc.record({
    'if-match': fc.oneof(fc.constant('"x"'), fc.string({ maxLength: 10 })),
    'x-request-id': fc.string({ maxLength: 200 }),
    'x-change-reason': fc.string({ maxLength: 700 }),
    'idempotency-key': fc.string({ maxLength: 200 }),
  }, { requiredKeys: [] });
  await fc.assert(
    fc.asyncProperty(paths, headers, async (path, extra) => {
      const safe = Object.fromEntries(Object.entries(extra).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(v)));
      const r = await fetch(`${svc.api}${path}`, { headers: { authorization: `Bearer ${user.accessToken}`, ...safe } });
      const text = await r.text();
      if (r.status >= 500) throw new Error(`GET ${path} answered ${r.status}: ${text.slice(0, 200)}`);
      if (r.status >= 400 && !(r.headers.get('content-type') ?? '').startsWith('application/problem+json')) throw new Error(`GET ${path} ${r.status} not problem+json`);
    }),
    { numRuns: 200, seed: 7 },
  );
  t.pass();
});
