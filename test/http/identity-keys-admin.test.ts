// API keys, admin routes, deactivation and erasure over HTTP; the parallel-registration race;
// what the identity events record (and never record).
import test from 'ava';
import pg from 'pg';
import { call, loginToken, newUser, useTestService } from '../support/service.ts';

const admin = { username: 'admin', password: 'Granite-Pelican-Orbit-51' };
let adminToken: string;

const svc = useTestService(test, { ADMIN_USERNAME: admin.username, ADMIN_PASSWORD: admin.password });
test.before(async () => {
  adminToken = await loginToken(svc.api, admin);
});

async function events(
  where = 'true',
  params: unknown[] = [],
): Promise<{ stream_id: string; type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[]> {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    return (
      await client.query(`SELECT stream_id, type, data, metadata FROM events WHERE ${where} ORDER BY position`, params)
    ).rows;
  } finally {
    await client.end();
  }
}

test('the bootstrap admin exists with role admin; the bootstrap is idempotent', async (t) => {
  const me = await call(svc.api, 'GET', '/auth/me', { token: adminToken });
  t.like(me.body, { username: 'admin', role: 'admin', isActive: true });
  const registered = await events(`type = 'UserRegistered' AND data->>'role' = 'admin'`);
  t.is(registered.length, 1);
  t.is(registered[0]!.metadata.actorType, 'system');
});

test('API keys: shown once, listed without secrets, authenticate as the owner, revocation works at once', async (t) => {
  const user = await newUser(svc.api);
  const created = await call(svc.api, 'POST', '/auth/api-keys', {
    token: user.accessToken,
    body: { name: 'LIMS import' },
  });
  t.is(created.status, 201);
  t.regex(created.body.key, /^vlg_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
  const key: string = created.body.key;
  const list = await call(svc.api, 'GET', '/auth/api-keys', { token: user.accessToken });
  t.is(list.status, 200);
  t.is(list.body.total, 1);
  t.like(list.body.items[0], { id: created.body.id, name: 'LIMS import', revokedAt: null });
  t.false(JSON.stringify(list.body).includes(key.slice(-43)));
  t.false('secretHash' in list.body.items[0]);
  const me = await call(svc.api, 'GET', '/auth/me', { apiKey: key });
  t.is(me.status, 200);
  t.is(me.body.id, user.id);
  const wrongSecret = await call(svc.api, 'GET', '/auth/me', { apiKey: `${key.slice(0, -4)}AAAA` });
  t.is(wrongSecret.status, 401);
  const revoked = await call(svc.api, 'DELETE', `/auth/api-keys/${created.body.id}`, { token: user.accessToken });
  t.is(revoked.status, 204);
  t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status, 401);
  const afterwards = await call(svc.api, 'GET', '/auth/api-keys', { token: user.accessToken });
  t.not(afterwards.body.items[0].revokedAt, null);
  // Key use was recorded once for the day, as an audit event without the secret.
  const used = await events(`type = 'ApiKeyUsed' AND data->>'keyId' = $1`, [created.body.id]);
  t.is(used.length, 1);
  t.is(used[0]!.metadata.actorType, 'api_key');
});

test("another user's API key is 404, a bad id 400, a bad name 422", async (t) => {
  const owner = await newUser(svc.api);
  const other = await newUser(svc.api);
  const created = await call(svc.api, 'POST', '/auth/api-keys', { token: owner.accessToken, body: { name: 'mine' } });
  const foreign = await call(svc.api, 'DELETE', `/auth/api-keys/${created.body.id}`, { token: other.accessToken });
  t.is(foreign.status, 404);
  t.is(foreign.body.code, 'not_found');
  const unknown = await call(svc.api, 'DELETE', `/auth/api-keys/${crypto.randomUUID()}`, { token: owner.accessToken });
  t.is(unknown.status, 404);
  t.deepEqual(foreign.body.detail, unknown.body.detail);
  t.is((await call(svc.api, 'DELETE', '/auth/api-keys/not-a-uuid', { token: owner.accessToken })).status, 400);
  const blank = await call(svc.api, 'POST', '/auth/api-keys', { token: owner.accessToken, body: { name: '   ' } });
  t.is(blank.status, 422);
  t.is(blank.body.errors[0].path, 'name');
  t.is((await call(svc.api, 'GET', '/auth/api-keys', { token: other.accessToken })).body.total, 0);
  t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: created.body.key })).status, 200);
});

test('admin routes are admin-only', async (t) => {
  const user = await newUser(svc.api);
  const list = await call(svc.api, 'GET', '/admin/users', { token: user.accessToken });
  t.is(list.status, 403);
  t.is(list.body.code, 'forbidden');
  t.is((await call(svc.api, 'POST', `/admin/users/${user.id}/deactivate`, { token: user.accessToken })).status, 403);
  t.is((await call(svc.api, 'GET', '/admin/users')).status, 401);
});

test('admin lists users with keyset pages', async (t) => {
  await newUser(svc.api);
  await newUser(svc.api);
  const first = await call(svc.api, 'GET', '/admin/users?limit=2', { token: adminToken });
  t.is(first.status, 200);
  t.is(first.body.items.length, 2);
  t.true(first.body.total >= 3);
  t.truthy(first.body.nextCursor);
  const second = await call(svc.api, 'GET', `/admin/users?limit=2&cursor=${first.body.nextCursor}`, {
    token: adminToken,
  });
  t.is(second.status, 200);
  const ids = new Set([...first.body.items, ...second.body.items].map((u: { id: string }) => u.id));
  t.is(ids.size, first.body.items.length + second.body.items.length);
  t.is((await call(svc.api, 'GET', '/admin/users?limit=500', { token: adminToken })).status, 400);
  t.is((await call(svc.api, 'GET', '/admin/users?sort=name', { token: adminToken })).status, 400);
});

test("deactivation stops a user's live access token and API keys at once; activation brings the keys back", async (t) => {
  const user = await newUser(svc.api);
  const key = (await call(svc.api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name: 'k' } })).body
    .key as string;
  t.is((await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status, 200);
  const off = await call(svc.api, 'POST', `/admin/users/${user.id}/deactivate`, {
    token: adminToken,
    headers: { 'x-change-reason': 'left the lab' },
  });
  t.is(off.status, 204);
  const refused = await call(svc.api, 'GET', '/auth/me', { token: user.accessToken });
  t.true(refused.status === 401 || refused.status === 403);
  t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status, 403);
  const login = await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } });
  t.is(login.status, 403);
  t.is(login.body.code, 'account_inactive');
  const wrongPassword = await call(svc.api, 'POST', '/auth/login', {
    body: { login: user.username, password: 'wrong-wrong-wrong' },
  });
  t.is(wrongPassword.status, 401, 'an inactive account is only revealed to someone who knows its password');
  t.is((await call(svc.api, 'POST', `/admin/users/${user.id}/activate`, { token: adminToken })).status, 204);
  t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status, 200);
  t.is(
    (await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status,
    401,
    'sessions from before the deactivation stay void',
  );
  t.is(
    (await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } })).status,
    200,
  );
  const deactivated = await events(`type = 'UserDeactivated' AND data->>'userId' = $1`, [user.id]);
  t.is(deactivated[0]!.metadata.reason, 'left the lab');
  t.is(
    (await call(svc.api, 'POST', `/admin/users/${crypto.randomUUID()}/deactivate`, { token: adminToken })).status,
    404,
  );
  const self = await call(
    svc.api,
    'POST',
    `/admin/users/${(await call(svc.api, 'GET', '/auth/me', { token: adminToken })).body.id}/deactivate`,
    { token: adminToken },
  );
  t.is(self.status, 403);
});

test('DELETE /auth/me erases the account: password required, sessions and keys revoked, email free again', async (t) => {
  const user = await newUser(svc.api);
  const key = (await call(svc.api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name: 'k' } })).body
    .key as string;
  t.is(
    (await call(svc.api, 'DELETE', '/auth/me', { token: user.accessToken, body: { password: 'wrong-wrong-wrong' } }))
      .status,
    401,
  );
  t.is(
    (await call(svc.api, 'DELETE', '/auth/me', { token: user.accessToken, body: { password: user.password } })).status,
    204,
  );
  t.is((await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status, 401);
  t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status, 401);
  t.is(
    (await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } })).status,
    401,
  );
  const listed = await call(svc.api, 'GET', '/admin/users?limit=100', { token: adminToken });
  const row = (listed.body.items as { id: string; status: string; username: string; email: string }[]).find(
    (u) => u.id === user.id,
  );
  t.like(row, { status: 'erased', username: '', email: '' });
  const reuse = await call(svc.api, 'POST', '/auth/register', {
    body: { username: `${user.username}x`, email: user.email, password: 'copper-Meadow-lark-88' },
  });
  t.is(reuse.status, 201);
  const sameName = await call(svc.api, 'POST', '/auth/register', {
    body: { username: user.username, email: `n${user.email}`, password: 'copper-Meadow-lark-88' },
  });
  t.is(sameName.status, 409);
  const revocations = await events(`type IN ('SessionRevoked', 'ApiKeyRevoked') AND data->>'userId' = $1`, [user.id]);
  t.deepEqual(revocations.map((e) => e.type).sort(), ['ApiKeyRevoked', 'SessionRevoked']);
});

test('admin erase works without the password', async (t) => {
  const user = await newUser(svc.api);
  t.is((await call(svc.api, 'POST', `/admin/users/${user.id}/erase`, { token: adminToken })).status, 204);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status, 401);
});

test('parallel registrations of one name: exactly one 201, the rest 409', async (t) => {
  const attempts = 12;
  const answers = await Promise.all(
    Array.from({ length: attempts }, (_, i) =>
      call(svc.api, 'POST', '/auth/register', {
        body: {
          username: i % 2 ? 'Contested' : 'contested',
          email: `contested${i}@lab.example`,
          password: 'saffron-Glacier-tide-4',
        },
      }),
    ),
  );
  const statuses = answers.map((a) => a.status);
  t.is(statuses.filter((s) => s === 201).length, 1, String(statuses));
  t.is(statuses.filter((s) => s === 409).length, attempts - 1, String(statuses));
  const sameEmail = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      call(svc.api, 'POST', '/auth/register', {
        body: { username: `race_mail_${i}`, email: 'Race@Lab.example', password: 'saffron-Glacier-tide-4' },
      }),
    ),
  );
  t.is(sameEmail.filter((a) => a.status === 201).length, 1);
  t.true(sameEmail.filter((a) => a.status === 409).every((a) => a.body.code === 'email_taken'));
  // Losers released their username reservations: each of those names can still be registered.
  const loser = sameEmail.findIndex((a) => a.status === 409);
  const retry = await call(svc.api, 'POST', '/auth/register', {
    body: { username: `race_mail_${loser}`, email: 'race-other@lab.example', password: 'saffron-Glacier-tide-4' },
  });
  t.is(retry.status, 201);
});

test('identity events record logins, failures, refreshes and revocations, never a password or token', async (t) => {
  const user = await newUser(svc.api, 'audited');
  await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: 'definitely-wrong-9' } });
  const refreshed = await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  await call(svc.api, 'POST', '/auth/logout', { body: { refreshToken: refreshed.body.refreshToken } });
  const all = await events(`data->>'userId' = $1`, [user.id]);
  const types = new Set(all.map((e) => e.type));
  for (const type of ['UserRegistered', 'SessionStarted', 'LoginFailed', 'SessionRefreshed', 'SessionRevoked'])
    t.true(types.has(type), type);
  const text = JSON.stringify(await events());
  for (const secret of [
    user.password,
    'definitely-wrong-9',
    user.refreshToken,
    refreshed.body.refreshToken,
    user.accessToken,
    refreshed.body.accessToken,
  ]) {
    t.false(text.includes(secret));
  }
  t.false(text.includes(admin.password));
});

test('logging in every day does not grow the user stream', async (t) => {
  const user = await newUser(svc.api);
  for (let i = 0; i < 10; i++)
    await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } });
  const userStream = await events('stream_id = $1', [`user-${user.id}`]);
  t.is(userStream.length, 1);
  const sessions = await events(`type = 'SessionStarted' AND data->>'userId' = $1`, [user.id]);
  t.is(new Set(sessions.map((e) => e.stream_id)).size, 11);
});
