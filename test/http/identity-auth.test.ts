// Identity over HTTP (API.md, Identity): register, login, refresh, logout, me, password change,
// token tampering; every failure row of the table.
import test from 'ava';
import { SignJWT, UnsecuredJWT } from 'jose';
import { call, newUser, useTestService } from '../support/service.ts';

const svc = useTestService(test, { RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES: '5' });

const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef0123456789');

test('register answers 201 with the account, never the password or its hash', async (t) => {
  const r = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'Dr.Okafor', email: 'Okafor@Lab.example', password: 'teal-lantern-meadow-9' },
  });
  t.is(r.status, 201);
  t.deepEqual(Object.keys(r.body).sort(), ['createdAt', 'email', 'id', 'role', 'username']);
  t.is(r.body.username, 'Dr.Okafor');
  t.is(r.body.role, 'user');
  t.regex(r.body.id, /^[0-9a-f-]{36}$/);
  t.false(JSON.stringify(r.body).includes('teal-lantern'));
});

test('username and email are unique case-insensitively (409 username_taken / email_taken)', async (t) => {
  const first = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'unique.one', email: 'uniq1@lab.example', password: 'teal-lantern-meadow-9' },
  });
  t.is(first.status, 201);
  const sameName = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'UNIQUE.ONE', email: 'other1@lab.example', password: 'teal-lantern-meadow-9' },
  });
  t.is(sameName.status, 409);
  t.is(sameName.body.code, 'username_taken');
  t.is(sameName.headers.get('content-type'), 'application/problem+json');
  const sameEmail = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'unique.two', email: 'UNIQ1@LAB.EXAMPLE', password: 'teal-lantern-meadow-9' },
  });
  t.is(sameEmail.status, 409);
  t.is(sameEmail.body.code, 'email_taken');
  // The failed attempt released its username reservation: the name is still free.
  const again = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'unique.two', email: 'uniq2@lab.example', password: 'teal-lantern-meadow-9' },
  });
  t.is(again.status, 201);
});

test('every broken registration rule is listed in errors[]', async (t) => {
  const r = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'root', email: 'not-an-email', password: 'root12345' },
  });
  t.is(r.status, 422);
  t.is(r.body.code, 'validation_failed');
  const messages = (r.body.errors as { path: string; message: string }[]).map((e) => `${e.path}: ${e.message}`);
  t.true(messages.includes('username: is reserved'));
  t.true(messages.includes('email: must be a valid email address'));
  t.true(messages.some((m) => m.startsWith('password: must be at least 10')));
  t.true(messages.includes('password: must not contain the username'));
  const bad = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'has space', email: 'a@lab.example', password: 'password123' },
  });
  t.deepEqual((bad.body.errors as { path: string; message: string }[]).map((e) => e.path).sort(), [
    'password',
    'username',
  ]);
  const unknown = await call(svc.api, 'POST', '/auth/register', {
    body: { username: 'okname', email: 'ok@lab.example', password: 'teal-lantern-meadow-9', role: 'admin' },
  });
  t.is(unknown.status, 422);
  t.deepEqual(unknown.body.errors, [{ path: 'role', message: 'Unknown field' }]);
});

test('malformed JSON is 400, a form body is 415', async (t) => {
  const malformed = await call(svc.api, 'POST', '/auth/register', { body: '{"username": ' });
  t.is(malformed.status, 400);
  t.is(malformed.body.code, 'malformed_json');
  const form = await call(svc.api, 'POST', '/auth/login', {
    body: 'login=a&password=b',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  t.is(form.status, 415);
});

test('login gives a token pair; unknown user and wrong password get the same answer', async (t) => {
  const user = await newUser(svc.api);
  const ok = await call(svc.api, 'POST', '/auth/login', {
    body: { login: user.email.toUpperCase(), password: user.password },
  });
  t.is(ok.status, 200);
  t.is(ok.body.tokenType, 'Bearer');
  t.is(ok.body.expiresIn, 900);
  t.regex(ok.body.refreshToken, /^vlr_[0-9a-f]{32}_/);
  const wrong = await call(svc.api, 'POST', '/auth/login', {
    body: { login: user.username, password: 'not-the-password-1' },
  });
  const unknown = await call(svc.api, 'POST', '/auth/login', {
    body: { login: 'nobody_here', password: 'not-the-password-1' },
  });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
  t.deepEqual(strip(wrong.body), strip(unknown.body));
  t.is(wrong.body.code, 'invalid_credentials');
});

test('repeated failed logins for one name are limited with 429 and Retry-After; other names are not', async (t) => {
  const user = await newUser(svc.api, 'victim');
  for (let i = 0; i < 5; i++) {
    const r = await call(svc.api, 'POST', '/auth/login', {
      body: { login: user.username, password: `wrong-password-${i}` },
    });
    t.is(r.status, 401);
  }
  const limited = await call(svc.api, 'POST', '/auth/login', {
    body: { login: user.username.toUpperCase(), password: user.password },
  });
  t.is(limited.status, 429);
  t.is(limited.body.code, 'rate_limited');
  t.true(Number(limited.headers.get('retry-after')) > 0);
  t.is(limited.headers.get('x-ratelimit-remaining'), '0');
  t.regex(limited.headers.get('ratelimit-policy') ?? '', /^"login";q=5;w=900$/);
  t.regex(limited.headers.get('ratelimit') ?? '', /^"login";r=0;t=\d+$/);
  const other = await newUser(svc.api, 'bystander');
  const fine = await call(svc.api, 'POST', '/auth/login', {
    body: { login: other.username, password: other.password },
  });
  t.is(fine.status, 200);
});

test('GET /me needs credentials and answers the caller', async (t) => {
  const none = await call(svc.api, 'GET', '/auth/me');
  t.is(none.status, 401);
  t.is(none.body.code, 'unauthenticated');
  const user = await newUser(svc.api);
  const me = await call(svc.api, 'GET', '/auth/me', { token: user.accessToken });
  t.is(me.status, 200);
  t.like(me.body, { id: user.id, username: user.username, email: user.email, role: 'user', isActive: true });
});

test('refresh rotates both tokens; a refresh token used twice revokes the whole session', async (t) => {
  const user = await newUser(svc.api);
  const first = await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  t.is(first.status, 200);
  t.not(first.body.refreshToken, user.refreshToken);
  t.not(first.body.accessToken, user.accessToken);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: first.body.accessToken })).status, 200);
  // The old one comes back (stolen copy): refused, and the session ends for everyone.
  const replay = await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  t.is(replay.status, 401);
  const newest = await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: first.body.refreshToken } });
  t.is(newest.status, 401);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: first.body.accessToken })).status, 401);
  const garbage = await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: 'vlr_nope' } });
  t.is(garbage.status, 401);
});

test('two concurrent refreshes with one token: at most one succeeds', async (t) => {
  const user = await newUser(svc.api);
  const answers = await Promise.all(
    [0, 1, 2].map(() => call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } })),
  );
  const statuses = answers.map((a) => a.status).sort();
  t.true(statuses.filter((s) => s === 200).length <= 1, String(statuses));
  t.true(statuses.filter((s) => s === 401).length >= 2, String(statuses));
});

test('logout revokes the session: its refresh token and its access tokens stop working', async (t) => {
  const user = await newUser(svc.api);
  const out = await call(svc.api, 'POST', '/auth/logout', { body: { refreshToken: user.refreshToken } });
  t.is(out.status, 204);
  t.is((await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } })).status, 401);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status, 401);
  t.is(
    (
      await call(svc.api, 'POST', '/auth/logout', {
        body: { refreshToken: 'vlr_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      })
    ).status,
    401,
  );
});

test('a password change needs the current password, checks the rules and revokes every session', async (t) => {
  const user = await newUser(svc.api);
  const second = await call(svc.api, 'POST', '/auth/login', {
    body: { login: user.username, password: user.password },
  });
  const wrong = await call(svc.api, 'POST', '/auth/password', {
    token: user.accessToken,
    body: { currentPassword: 'nope-nope-nope', newPassword: 'amber-falcon-river-3' },
  });
  t.is(wrong.status, 401);
  const weak = await call(svc.api, 'POST', '/auth/password', {
    token: user.accessToken,
    body: { currentPassword: user.password, newPassword: 'short' },
  });
  t.is(weak.status, 422);
  t.is(weak.body.errors[0].path, 'newPassword');
  const changed = await call(svc.api, 'POST', '/auth/password', {
    token: user.accessToken,
    body: { currentPassword: user.password, newPassword: 'amber-falcon-river-3' },
  });
  t.is(changed.status, 204);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: user.accessToken })).status, 401);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: second.body.accessToken })).status, 401);
  t.is(
    (await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: second.body.refreshToken } })).status,
    401,
  );
  t.is(
    (await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: user.password } })).status,
    401,
  );
  t.is(
    (await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: 'amber-falcon-river-3' } }))
      .status,
    200,
  );
});

test('tampered access tokens are refused: alg none, wrong signature, issuer, audience, expiry, unknown kid', async (t) => {
  const user = await newUser(svc.api);
  const claims = JSON.parse(Buffer.from(user.accessToken.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  const base = () =>
    new SignJWT({ role: claims.role, sid: claims.sid }).setSubject(String(claims.sub)).setIssuedAt().setJti('x');
  const variants: Record<string, string> = {
    none: new UnsecuredJWT({ role: 'admin', sid: claims.sid })
      .setSubject(String(claims.sub))
      .setIssuer('vialog')
      .setAudience('vialog-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode(),
    wrongSignature: `${user.accessToken.slice(0, user.accessToken.lastIndexOf('.'))}.${'A'.repeat(43)}`,
    roleEdited: (() => {
      const [h, , s] = user.accessToken.split('.');
      return `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${s}`;
    })(),
    wrongIssuer: await base()
      .setProtectedHeader({ alg: 'HS256', kid: 'test-k1', typ: 'JWT' })
      .setIssuer('evil')
      .setAudience('vialog-api')
      .setExpirationTime('5m')
      .sign(secret),
    wrongAudience: await base()
      .setProtectedHeader({ alg: 'HS256', kid: 'test-k1', typ: 'JWT' })
      .setIssuer('vialog')
      .setAudience('other')
      .setExpirationTime('5m')
      .sign(secret),
    unknownKid: await base()
      .setProtectedHeader({ alg: 'HS256', kid: 'k-unknown', typ: 'JWT' })
      .setIssuer('vialog')
      .setAudience('vialog-api')
      .setExpirationTime('5m')
      .sign(secret),
    garbage: 'not.a.jwt',
  };
  for (const [name, token] of Object.entries(variants)) {
    const r = await call(svc.api, 'GET', '/auth/me', { token });
    t.is(r.status, 401, name);
    t.is(r.body.code, 'unauthenticated', name);
  }
  const expired = await new SignJWT({ role: claims.role, sid: claims.sid })
    .setProtectedHeader({ alg: 'HS256', kid: 'test-k1', typ: 'JWT' })
    .setSubject(String(claims.sub))
    .setIssuer('vialog')
    .setAudience('vialog-api')
    .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(secret);
  const r = await call(svc.api, 'GET', '/auth/me', { token: expired });
  t.is(r.status, 401);
  t.is(r.body.code, 'token_expired');
  // The same claims signed correctly do work: the refusals above are about the tampering.
  const genuine = await base()
    .setProtectedHeader({ alg: 'HS256', kid: 'test-k1', typ: 'JWT' })
    .setIssuer('vialog')
    .setAudience('vialog-api')
    .setExpirationTime('5m')
    .sign(secret);
  t.is((await call(svc.api, 'GET', '/auth/me', { token: genuine })).status, 200);
  const badHeader = await call(svc.api, 'GET', '/auth/me', { headers: { authorization: 'Basic abc' } });
  t.is(badHeader.status, 401);
  // The scheme is case-insensitive (RFC 7235); the token must be an RFC 6750 b64token.
  t.is((await call(svc.api, 'GET', '/auth/me', { headers: { authorization: `bearer  ${genuine}` } })).status, 200);
  for (const authorization of [
    `Bearer ${genuine}!`,
    `Bearer ${genuine} extra`,
    'Bearer ',
    'Bearer',
    `Bearer${genuine}`,
  ]) {
    const refused = await call(svc.api, 'GET', '/auth/me', { headers: { authorization } });
    t.is(refused.status, 401, authorization.slice(0, 12));
    t.is(refused.body.code, 'unauthenticated');
  }
});

test('every error answer is problem+json with the request id and no secret', async (t) => {
  const r = await call(svc.api, 'POST', '/auth/login', {
    body: { login: 'x', password: 'super-secret-typed' },
    headers: { 'x-request-id': 'req-identity-1' },
  });
  if (r.status !== 401) t.log(svc.logLines.filter((l) => l.includes('req-identity-1')).join('\n'));
  t.is(r.status, 401);
  t.is(r.body.requestId, 'req-identity-1');
  t.is(r.headers.get('x-request-id'), 'req-identity-1');
  t.false(JSON.stringify(r.body).includes('super-secret-typed'));
  t.false(svc.logLines.some((l) => l.includes('super-secret-typed')));
});

test('refused credentials answer 401 problem+json with WWW-Authenticate: Bearer', async (t) => {
  const user = await newUser(svc.api);
  const refused = await call(svc.api, 'POST', '/auth/refresh', { body: { refreshToken: `${user.refreshToken}x` } });
  t.is(refused.status, 401);
  t.is(refused.body.code, 'invalid_credentials');
  t.is(refused.headers.get('www-authenticate'), 'Bearer');
  t.regex(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
});
