// Abuse limits that hold (issue 16 §3) over HTTP: what an API key may not do, password checks
// limited per account and counted before argon2 runs, forged refresh tokens that cannot lock their
// session's owner out, client networks behind a trusted proxy, the same work for unknown and known
// accounts, and Idempotency-Key answers that never keep a secret and go with the account.
import test from 'ava';
import * as argon2 from 'argon2';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { identityCommandsFor } from '../../modules/identity/module.ts';
import { DomainError } from '../../platform/commands/decision.ts';
import { createPasswordHasher, type Argon2Backend } from '../../modules/identity/passwords.ts';
import { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { loadConfig } from '../../platform/config.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import type { EventStore } from '../../platform/eventstore/port.ts';
import { call, loginToken, newUser, testArgon2, bootstrapAdmin, useTestService } from '../support/service.ts';

/** argon2 work done by the service, counted. */
const work = { verify: 0, hash: 0 };
const countingArgon2: Argon2Backend = {
  hash: (password, options) => {
    work.hash += 1;
    return argon2.hash(password, options);
  },
  verify: (digest, password) => {
    work.verify += 1;
    return argon2.verify(digest, password);
  },
  needsRehash: (digest, options) => argon2.needsRehash(digest, options),
};

const admin = { username: 'admin', password: 'Basalt-Heron-Quarry-62' };
const env = {
  ...bootstrapAdmin(admin),
  TRUST_PROXY_HOPS: '1',
  RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES: '10',
  RATE_LIMIT_REFRESH_FAILURES_PER_15_MINUTES: '5',
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '10000',
};
let adminToken: string;

const svc = useTestService(test, env, {
  passwordHasher: createPasswordHasher({ parameters: testArgon2, backend: countingArgon2 }),
});
test.before(async () => {
  adminToken = await loginToken(svc.api, admin);
});

/** As seen behind our one trusted proxy: it appended the client's address last. */
const from = (ip: string) => ({ 'x-forwarded-for': ip });

async function query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

// --- what an API key may not do -------------------------------------------------------------------

test('an API key cannot manage keys, change the password or erase the account: 403 forbidden, nothing changes', async (t) => {
  const user = await newUser(svc.api, 'keyholder');
  const created = await call(svc.api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name: 'robot' } });
  const key: string = created.body.key;
  const attempts: [string, string, unknown?][] = [
    ['POST', '/auth/api-keys', { name: 'a second key' }],
    ['GET', '/auth/api-keys'],
    ['DELETE', `/auth/api-keys/${created.body.id}`],
    ['POST', '/auth/password', { currentPassword: user.password, newPassword: 'Cobalt-Marsh-Falcon-19' }],
    ['DELETE', '/auth/me', { password: user.password }],
  ];
  for (const [method, path, body] of attempts) {
    const refused = await call(svc.api, method, path, { apiKey: key, ...(body ? { body } : {}) });
    t.is(refused.status, 403, `${method} ${path}`);
    t.is(refused.body.code, 'forbidden');
    t.regex(refused.body.detail, /interactive session/);
  }
  t.is(
    (await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status,
    200,
    'the key still works for what keys are for',
  );
  t.is(
    (await call(svc.api, 'GET', '/auth/api-keys', { token: user.accessToken })).body.total,
    1,
    'no key was made or revoked',
  );
  t.is(
    (await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } })).status,
    200,
    'the password is unchanged',
  );
});

test("an admin's API key cannot administer: every /admin route is 403; the admin's session can", async (t) => {
  const made = await call(svc.api, 'POST', '/auth/api-keys', { token: adminToken, body: { name: 'admin robot' } });
  t.is(made.status, 201, JSON.stringify(made.body));
  const key = made.body.key as string;
  const victim = await newUser(svc.api);
  for (const [method, path] of [
    ['GET', '/admin/users'],
    ['POST', `/admin/users/${victim.id}/deactivate`],
    ['POST', `/admin/users/${victim.id}/erase`],
    ['GET', '/admin/projections'],
  ] as const) {
    const refused = await call(svc.api, method, path, { apiKey: key });
    t.is(refused.status, 403, `${method} ${path}`);
    t.is(refused.body.code, 'forbidden');
  }
  t.is(
    (await call(svc.api, 'GET', '/auth/me', { token: victim.accessToken })).status,
    200,
    'the victim was neither deactivated nor erased',
  );
  t.is((await call(svc.api, 'GET', '/admin/users', { token: adminToken })).status, 200);
});

test('a password change revokes every API key of the account', async (t) => {
  const user = await newUser(svc.api);
  const keys = [];
  for (const name of ['import', 'export'])
    keys.push(
      (await call(svc.api, 'POST', '/auth/api-keys', { token: user.accessToken, body: { name } })).body.key as string,
    );
  for (const key of keys) t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status, 200);
  const newPassword = 'Saffron-Quill-Harbor-77';
  t.is(
    (
      await call(svc.api, 'POST', '/auth/password', {
        token: user.accessToken,
        body: { currentPassword: user.password, newPassword },
      })
    ).status,
    204,
  );
  for (const key of keys) t.is((await call(svc.api, 'GET', '/auth/me', { apiKey: key })).status, 401);
  const token = (await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: newPassword } }))
    .body.accessToken;
  const listed = await call(svc.api, 'GET', '/auth/api-keys', { token });
  t.true((listed.body.items as { revokedAt: string | null }[]).every((k) => k.revokedAt !== null));
});

// --- password checks limited per account ----------------------------------------------------------

function expectLimited(
  t: {
    is(a: unknown, b: unknown, m?: string): void;
    true(v: boolean, m?: string): void;
    regex(s: string, r: RegExp): void;
  },
  answer: { status: number; headers: Headers; body: Record<string, unknown> },
) {
  t.is(answer.status, 429);
  t.is(answer.body.code, 'rate_limited');
  t.true(Number(answer.headers.get('retry-after')) > 0, 'Retry-After');
  t.is(answer.headers.get('x-ratelimit-limit'), '10');
  t.is(answer.headers.get('x-ratelimit-remaining'), '0');
  t.true(Number(answer.headers.get('x-ratelimit-reset')) > Date.now() / 1000, 'X-RateLimit-Reset');
  t.regex(answer.headers.get('ratelimit-policy') ?? '', /^"login";q=10;w=900$/);
}

test('wrong current passwords on POST /auth/password are limited per account, and the budget is the one logins use', async (t) => {
  const user = await newUser(svc.api);
  for (let i = 0; i < 10; i++) {
    const wrong = await call(svc.api, 'POST', '/auth/password', {
      token: user.accessToken,
      body: { currentPassword: `guess-number-${i}`, newPassword: 'Cobalt-Marsh-Falcon-19' },
    });
    t.is(wrong.status, 401);
  }
  const limited = await call(svc.api, 'POST', '/auth/password', {
    token: user.accessToken,
    body: { currentPassword: user.password, newPassword: 'Cobalt-Marsh-Falcon-19' },
  });
  expectLimited(t, limited);
  expectLimited(
    t,
    await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } }),
  );
  t.is(
    (await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status,
    200,
    'the password did not change',
  );
});

test('wrong passwords on DELETE /auth/me are limited per account', async (t) => {
  const user = await newUser(svc.api);
  for (let i = 0; i < 10; i++)
    t.is(
      (await call(svc.api, 'DELETE', '/auth/me', { token: user.accessToken, body: { password: `guess-number-${i}` } }))
        .status,
      401,
    );
  expectLimited(
    t,
    await call(svc.api, 'DELETE', '/auth/me', { token: user.accessToken, body: { password: user.password } }),
  );
  t.is((await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status, 200, 'the account was not erased');
});

test.serial(
  '14 parallel wrong logins with a limit of 10: at most 10 reach the password check (401), the rest are 429',
  async (t) => {
    const user = await newUser(svc.api, 'hammered');
    const before = work.verify;
    const answers = await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: `parallel-guess-${i}` } }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    t.is(statuses.filter((s) => s === 401).length, 10, String(statuses));
    t.is(statuses.filter((s) => s === 429).length, 4, String(statuses));
    t.true(work.verify - before <= 10, `${work.verify - before} password checks ran`);
  },
);

test("an account's username and email share one budget", async (t) => {
  const user = await newUser(svc.api);
  const wrongLogin = (login: string, password: string) =>
    call(svc.api, 'POST', '/auth/login', { body: { login, password } });
  for (let i = 0; i < 5; i++) t.is((await wrongLogin(user.username.toUpperCase(), `by-name-${i}-wrong`)).status, 401);
  for (let i = 0; i < 5; i++) t.is((await wrongLogin(user.email.toUpperCase(), `by-mail-${i}-wrong`)).status, 401);
  expectLimited(
    t,
    await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } }),
  );
  expectLimited(
    t,
    await call(svc.api, 'POST', '/auth/login', { body: { login: user.email, password: user.password } }),
  );
});

test('unknown login names are counted per normalised name', async (t) => {
  for (let i = 0; i < 10; i++)
    t.is(
      (
        await call(svc.api, 'POST', '/auth/login', {
          body: { login: i % 2 ? 'Nobody.Known' : 'nobody.known', password: `x-${i}-wrong-pw` },
        })
      ).status,
      401,
    );
  expectLimited(
    t,
    await call(svc.api, 'POST', '/auth/login', { body: { login: 'NOBODY.KNOWN', password: 'x-wrong-pw' } }),
  );
  t.is(
    (await call(svc.api, 'POST', '/auth/login', { body: { login: 'somebody.else', password: 'x-wrong-pw' } })).status,
    401,
    'another name has its own budget',
  );
});

// --- forged refresh tokens; client networks behind the proxy ------------------------------------

test("forged refresh tokens carrying a victim's session id burn the forger's network budget, never the victim's session", async (t) => {
  const victim = await newUser(svc.api, 'victim');
  const sessionId = victim.refreshToken.split('_')[1]!;
  const forged = () => `vlr_${sessionId}_${randomBytes(32).toString('base64url')}`;
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    // The forger writes whatever it likes left of what our proxy appended: still one client.
    statuses.push(
      (
        await call(svc.api, 'POST', '/auth/refresh', {
          body: { refreshToken: forged() },
          headers: from(`10.9.8.${i}, 198.51.100.66`),
        })
      ).status,
    );
  }
  t.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
  const real = await call(svc.api, 'POST', '/auth/refresh', {
    body: { refreshToken: victim.refreshToken },
    headers: from('203.0.113.50'),
  });
  t.is(real.status, 200, 'the victim refreshes as usual');
});

test('an IPv6 forger is one client across its /64', async (t) => {
  const statuses: number[] = [];
  for (let i = 1; i <= 7; i++) {
    statuses.push(
      (
        await call(svc.api, 'POST', '/auth/refresh', {
          body: { refreshToken: `vlr_${randomUUID().replaceAll('-', '')}_${'A'.repeat(43)}` },
          headers: from(`2001:db8:77:1::${i.toString(16)}`),
        })
      ).status,
    );
  }
  t.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
  const neighbour = await call(svc.api, 'POST', '/auth/refresh', {
    body: { refreshToken: `vlr_${randomUUID().replaceAll('-', '')}_${'A'.repeat(43)}` },
    headers: from('2001:db8:77:2::1'),
  });
  t.is(neighbour.status, 401, 'the next /64 is another client');
});

// --- the same work for unknown names and wrong passwords -----------------------------------------

test.serial(
  'a wrong password and an unknown name do the same work before the answer; recording the failure is not waited for',
  async (t) => {
    const user = await newUser(svc.api, 'timed');
    const infrastructure = svc.service.infrastructure;
    const counts = { verify: 0, hash: 0, readStream: 0, appendsDone: 0 };
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const real = infrastructure.store;
    // The event store as the commands see it: reads counted; appends held until the gate opens.
    const store = new Proxy(real, {
      get(target, property, receiver) {
        if (property === 'readStream')
          return (...args: Parameters<EventStore['readStream']>) => (
            (counts.readStream += 1),
            target.readStream(...args)
          );
        if (property === 'append') {
          return async (...args: Parameters<EventStore['append']>) => {
            await gate;
            const result = await target.append(...args);
            counts.appendsDone += 1;
            return result;
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const hasher = createPasswordHasher({
      parameters: testArgon2,
      backend: {
        hash: (password, options) => ((counts.hash += 1), argon2.hash(password, options)),
        verify: (digest, password) => ((counts.verify += 1), argon2.verify(digest, password)),
        needsRehash: (digest, options) => argon2.needsRehash(digest, options),
      },
    });
    await hasher.warmUp();
    const commands = identityCommandsFor({
      config: loadConfig({
        NODE_ENV: 'test',
        DATA_DIR: '.data/test-service',
        JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
      }),
      knex: infrastructure.knex,
      store,
      hasher,
      vault: new PersonalDataVault(
        infrastructure.knex,
        loadConfig({ NODE_ENV: 'test', DATA_DIR: '.data/test-service' }).personalDataKey,
      ),
      waitForProjections: (names, position) =>
        svc.service.engine.waitForProjections(names, position, { timeoutMs: 5_000 }),
    });
    const attempt = async (login: string) => {
      for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] = 0;
      const outcome = await Promise.race([
        commands
          .logIn(login, 'not-the-password-9', { ip: '192.0.2.9', userAgent: 'probe' }, systemCause('timing probe'))
          .then(
            () => 'logged in',
            (error: unknown) => (error instanceof DomainError ? error.code : String(error)),
          ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3_000)),
      ]);
      return { outcome, ...counts };
    };
    const unknown = await attempt(`nobody_${randomUUID().slice(0, 8)}`);
    const wrong = await attempt(user.username);
    t.deepEqual(unknown, { outcome: 'invalid_credentials', verify: 1, hash: 0, readStream: 1, appendsDone: 0 });
    t.deepEqual(wrong, unknown, 'the same answer after the same work');
    openGate();
    await commands.drain();
    t.is(counts.appendsDone, 1, 'the failed login of the account is still recorded (LoginFailed), after the answer');
  },
);

// --- Idempotency-Key: no secrets kept, purged on erasure -----------------------------------------

test('a login repeated with the same Idempotency-Key gets new tokens, never stored ones', async (t) => {
  const user = await newUser(svc.api);
  const headers = { 'idempotency-key': `login-${randomUUID()}` };
  const first = await call(svc.api, 'POST', '/auth/login', {
    token: user.accessToken,
    headers,
    body: { login: user.username, password: user.password },
  });
  const second = await call(svc.api, 'POST', '/auth/login', {
    token: user.accessToken,
    headers,
    body: { login: user.username, password: user.password },
  });
  t.is(first.status, 200);
  t.is(second.status, 200);
  t.not(second.body.refreshToken, first.body.refreshToken);
  t.is(second.headers.get('idempotent-replayed'), null);
  const kept = JSON.stringify(await query('SELECT * FROM idempotency_keys WHERE owner_id = $1', [user.id]));
  for (const token of [first.body.accessToken, first.body.refreshToken, second.body.refreshToken])
    t.false(kept.includes(token));
});

test('a new API key is never kept for replay: the repeat creates nothing and gets 409 idempotency_answer_withheld', async (t) => {
  const user = await newUser(svc.api);
  const headers = { 'idempotency-key': `key-${randomUUID()}` };
  const first = await call(svc.api, 'POST', '/auth/api-keys', {
    token: user.accessToken,
    headers,
    body: { name: 'once only' },
  });
  t.is(first.status, 201);
  const repeat = await call(svc.api, 'POST', '/auth/api-keys', {
    token: user.accessToken,
    headers,
    body: { name: 'once only' },
  });
  t.is(repeat.status, 409);
  t.is(repeat.body.code, 'idempotency_answer_withheld');
  t.is((await call(svc.api, 'GET', '/auth/api-keys', { token: user.accessToken })).body.total, 1);
  const kept = JSON.stringify(await query('SELECT * FROM idempotency_keys'));
  t.false(kept.includes(first.body.key), 'the secret is not in the table');
  t.false(kept.includes(first.body.key.split('_')[2]));
});

test("erasure deletes the user's kept Idempotency-Key answers", async (t) => {
  const user = await newUser(svc.api);
  const started = await call(svc.api, 'POST', '/dialog/conversations', {
    token: user.accessToken,
    headers: { 'idempotency-key': 'conv-1' },
    body: { title: 'kept answer' },
  });
  t.is(started.status, 201);
  t.is((await query('SELECT key FROM idempotency_keys WHERE owner_id = $1', [user.id])).length, 1);
  t.is(
    (await call(svc.api, 'DELETE', '/auth/me', { token: user.accessToken, body: { password: user.password } })).status,
    204,
  );
  t.deepEqual(await query('SELECT key FROM idempotency_keys WHERE owner_id = $1', [user.id]), []);
});
