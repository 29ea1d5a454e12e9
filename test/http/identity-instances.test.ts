// Two API instances on one database (as behind a load balancer): a revocation made through one is
// honoured by the other (its caller cache is evicted by the projection's NOTIFY); failed logins
// are counted across instances when they share Redis, also when they come all at once; an
// erasure through one leaves no usable personal-data key in the other. Also: rebuilding the
// identity read model gives the same rows.
import test from 'ava';
import pg from 'pg';
import { type RunningService } from '../../app/service.ts';
import { redisSkipReason, testRedisUrl } from '../support/database.ts';
import { call, newUser, startTestService, type TestService, startSecondApi } from '../support/service.ts';

const redisUrl = testRedisUrl();
const admin = { username: 'admin', password: 'Granite-Pelican-Orbit-51' };
let first: TestService;
let second: RunningService;
let api2: string;

test.before(async () => {
  const shared = {
    RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES: '4',
    // The per-IP limit is shared through Redis by every test run on this machine: not what these tests count.
    RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '100000',
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
  };
  first = await startTestService(shared);
  // The second instance: API only, same database, same keys; the first one runs the projections.
  ({ service: second, api: api2 } = await startSecondApi(first, shared));
});
test.after.always(async () => {
  await second?.stop();
  await first?.stop();
});

async function refusedWithin(ms: number, probe: () => Promise<number>): Promise<{ refused: boolean; afterMs: number }> {
  const started = Date.now();
  for (;;) {
    const status = await probe();
    if (status === 401 || status === 403) return { refused: true, afterMs: Date.now() - started };
    if (Date.now() - started > ms) return { refused: false, afterMs: Date.now() - started };
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a logout through one instance ends the session on the other (which had it cached)', async (t) => {
  const user = await newUser(first.api);
  for (let i = 0; i < 3; i++) t.is((await call(api2, 'GET', '/auth/me', { token: user.accessToken })).status, 200); // cached on the second instance now
  t.is((await call(first.api, 'POST', '/auth/logout', { body: { refreshToken: user.refreshToken } })).status, 204);
  const outcome = await refusedWithin(
    2_000,
    async () => (await call(api2, 'GET', '/auth/me', { token: user.accessToken })).status,
  );
  t.true(outcome.refused, 'the other instance still accepted the token after 2 s');
  t.log(`refused by the other instance ${outcome.afterMs} ms after the logout answered`);
});

test('an API key revoked through one instance stops working on the other', async (t) => {
  const user = await newUser(first.api);
  const key = (await call(first.api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name: 'k' } })).body
    .key as string;
  t.is((await call(api2, 'GET', '/auth/me', { apiKey: key })).status, 200);
  const id = (await call(first.api, 'GET', '/auth/api-keys', { token: user.accessToken })).body.items[0].id as string;
  t.is((await call(first.api, 'DELETE', `/auth/api-keys/${id}`, { token: user.accessToken })).status, 204);
  const outcome = await refusedWithin(2_000, async () => (await call(api2, 'GET', '/auth/me', { apiKey: key })).status);
  t.true(outcome.refused);
});

test("an erasure through one instance: the other opens none of the person's sealed data from then on (no key outlives it)", async (t) => {
  const user = await newUser(first.api);
  const adminToken = (
    await call(api2, 'POST', '/auth/login', { body: { login: admin.username, password: admin.password } })
  ).body.accessToken as string;
  const exportOnSecond = async () =>
    (
      await fetch(`${api2}/audit/export?streamId=user-${user.id}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      })
    ).text();
  // The second instance opens the sealed email (the audit projection may still be catching up).
  const deadline = Date.now() + 10_000;
  let before = await exportOnSecond();
  while (!before.includes(user.email) && Date.now() < deadline) before = await exportOnSecond();
  t.true(before.includes(user.email), 'before erasure the admin sees the email');
  t.is(
    (await call(first.api, 'DELETE', '/auth/me', { token: user.accessToken, body: { password: user.password } }))
      .status,
    204,
  );
  const after = await exportOnSecond(); // at once: nothing to wait for
  t.false(after.includes(user.email), 'the other instance no longer opens it');
  t.true(after.includes('[erased]'));
});

if (!redisUrl) console.log(`[skip] shared login-failure counting: ${redisSkipReason()}`);
const redisTest = redisUrl ? test : test.skip;

redisTest('failed logins are counted across instances through Redis', async (t) => {
  const user = await newUser(first.api);
  for (let i = 0; i < 2; i++)
    t.is(
      (
        await call(first.api, 'POST', '/auth/login', {
          body: { login: user.username, password: `wrong-${i}-password` },
        })
      ).status,
      401,
    );
  for (let i = 0; i < 2; i++)
    t.is(
      (await call(api2, 'POST', '/auth/login', { body: { login: user.username, password: `wrong-${i}-password` } }))
        .status,
      401,
    );
  const limited = await call(first.api, 'POST', '/auth/login', {
    body: { login: user.username, password: user.password },
  });
  t.is(limited.status, 429);
});

redisTest(
  '14 wrong logins at once across both instances: at most the limit reach the password check, the rest are 429',
  async (t) => {
    const user = await newUser(first.api);
    const answers = await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        call(i % 2 ? api2 : first.api, 'POST', '/auth/login', {
          body: { login: user.username, password: `parallel-${i}-wrong` },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    t.is(statuses.filter((s) => s === 401).length, 4, String(statuses));
    t.is(statuses.filter((s) => s === 429).length, 10, String(statuses));
  },
);

test.serial(
  'rebuilding the identity read model gives the same rows (run alone: other tests would change rows meanwhile)',
  async (t) => {
    const user = await newUser(first.api);
    await call(first.api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name: 'rebuild me' } });
    await call(first.api, 'POST', '/auth/logout', { body: { refreshToken: user.refreshToken } });
    const client = new pg.Client({ connectionString: first.db.url });
    await client.connect();
    try {
      const snapshot = async () => {
        const out: Record<string, unknown[]> = {};
        for (const [table, key] of [
          ['identity_users', 'user_id'],
          ['identity_sessions', 'session_id'],
          ['identity_api_keys', 'key_id'],
        ] as const) {
          out[table] = (await client.query(`SELECT * FROM ${table} ORDER BY ${key}`)).rows;
        }
        return out;
      };
      const before = await snapshot();
      t.true(before.identity_users!.length >= 1);
      await first.service.engine.rebuild('identity', { timeoutMs: 30_000 });
      t.deepEqual(await snapshot(), before);
    } finally {
      await client.end();
    }
  },
);
