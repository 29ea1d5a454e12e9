// Access tokens (jose, HS256, kid key ring) and refresh token format. Every way a tampered,
// foreign or stale token could get in is tried here.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { SignJWT, UnsecuredJWT, type JWTHeaderParameters } from 'jose';
import type { AccessTokenConfig } from '../../modules/identity/tokens.ts';
import {
  createAccessTokens,
  generateRefreshToken,
  parseRefreshToken,
  sha256Hex,
  TokenError,
} from '../../modules/identity/tokens.ts';
import { later, now, sessionId, userId } from '../support/identity-fixtures.ts';

const k1 = { kid: 'k1', secret: 'first-secret-0123456789abcdefghijklmnop' };
const k2 = { kid: 'k2', secret: 'second-secret-0123456789abcdefghijklmno' };
const config = (
  jwtKeys: AccessTokenConfig['jwtKeys'],
  overrides: Partial<AccessTokenConfig> = {},
): AccessTokenConfig => ({
  jwtKeys,
  JWT_ISSUER: 'vialog',
  JWT_AUDIENCE: 'vialog-api',
  ACCESS_TOKEN_TTL_SECONDS: 900,
  ...overrides,
});
const claims = { userId, role: 'user', sessionId } as const;

const refused = async (t: ExecutionContext, promise: Promise<unknown>, code: TokenError['code']) => {
  const error = await t.throwsAsync(promise, { instanceOf: TokenError });
  t.is(error.code, code);
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token made outside the service, signed with k1's secret, with a header and role of the test's choosing. */
const handSigned = (header: JWTHeaderParameters, role: string) =>
  new SignJWT({ role, sid: sessionId })
    .setProtectedHeader(header)
    .setSubject(userId)
    .setIssuer('vialog')
    .setAudience('vialog-api')
    .setIssuedAt(now)
    .setExpirationTime(later(900))
    .sign(new TextEncoder().encode(k1.secret));

test('a signed token verifies and carries user, role, session and kid', async (t) => {
  const tokens = createAccessTokens(config([k1]));
  const issued = await tokens.sign(claims, now);
  t.is(issued.expiresIn, 900);
  const header = JSON.parse(Buffer.from(issued.token.split('.')[0]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  t.deepEqual(header, { alg: 'HS256', kid: 'k1', typ: 'JWT' });
  const verified = await tokens.verify(issued.token, later(60));
  t.like(verified, { userId, role: 'user', sessionId, kid: 'k1' });
  t.is(verified.expiresAt.getTime(), Math.floor(now.getTime() / 1000) * 1000 + 900_000);
});

test('alg "none" is refused', async (t) => {
  const tokens = createAccessTokens(config([k1]));
  const unsecured = new UnsecuredJWT({ role: 'admin', sid: sessionId })
    .setSubject(userId)
    .setIssuer('vialog')
    .setAudience('vialog-api')
    .setIssuedAt(now)
    .setExpirationTime(later(900))
    .encode();
  await refused(t, tokens.verify(unsecured, now), 'unauthenticated');
  // The same, hand-made with a kid, as an attacker would send it.
  const payload = {
    sub: userId,
    sid: sessionId,
    role: 'admin',
    iss: 'vialog',
    aud: 'vialog-api',
    iat: 1,
    exp: 4_000_000_000,
  };
  await refused(
    t,
    tokens.verify(`${b64({ alg: 'none', kid: 'k1', typ: 'JWT' })}.${b64(payload)}.`, now),
    'unauthenticated',
  );
});

test('a wrong signature is refused (other secret, same kid)', async (t) => {
  const forged = await createAccessTokens(
    config([{ kid: 'k1', secret: 'attacker-secret-0123456789abcdefghijk' }]),
  ).sign(claims, now);
  await refused(t, createAccessTokens(config([k1])).verify(forged.token, now), 'unauthenticated');
});

test('a payload changed after signing is refused (role escalation)', async (t) => {
  const tokens = createAccessTokens(config([k1]));
  const [header, payload, signature] = (await tokens.sign(claims, now)).token.split('.') as [string, string, string];
  const escalated = { ...(JSON.parse(Buffer.from(payload, 'base64url').toString()) as object), role: 'admin' };
  await refused(t, tokens.verify(`${header}.${b64(escalated)}.${signature}`, now), 'unauthenticated');
});

test('another HMAC algorithm with the right secret is refused (only HS256)', async (t) => {
  const token = await handSigned({ alg: 'HS512', kid: 'k1', typ: 'JWT' }, 'user');
  await refused(t, createAccessTokens(config([k1])).verify(token, now), 'unauthenticated');
});

test('a wrong issuer or audience is refused', async (t) => {
  const verifier = createAccessTokens(config([k1]));
  const otherIssuer = await createAccessTokens(config([k1], { JWT_ISSUER: 'someone-else' })).sign(claims, now);
  const otherAudience = await createAccessTokens(config([k1], { JWT_AUDIENCE: 'other-api' })).sign(claims, now);
  await refused(t, verifier.verify(otherIssuer.token, now), 'unauthenticated');
  await refused(t, verifier.verify(otherAudience.token, now), 'unauthenticated');
});

test('an expired token is token_expired (after the TTL and a few seconds of clock tolerance)', async (t) => {
  const tokens = createAccessTokens(config([k1]));
  const issued = await tokens.sign(claims, now);
  await t.notThrowsAsync(tokens.verify(issued.token, later(899)));
  await refused(t, tokens.verify(issued.token, later(910)), 'token_expired');
});

test('key rotation: tokens signed with an older (non-first) key still verify; new ones use the first key', async (t) => {
  const before = await createAccessTokens(config([k1])).sign(claims, now);
  const rotated = createAccessTokens(config([k2, k1]));
  t.like(await rotated.verify(before.token, later(60)), { kid: 'k1', userId });
  const after = await rotated.sign(claims, now);
  t.like(await rotated.verify(after.token, later(60)), { kid: 'k2' });
  // Once k1 is dropped from the ring, its tokens stop working.
  await refused(t, createAccessTokens(config([k2])).verify(before.token, later(60)), 'unauthenticated');
});

test('an unknown kid or a missing kid is refused', async (t) => {
  const foreign = await createAccessTokens(config([{ kid: 'k9', secret: k1.secret }])).sign(claims, now);
  await refused(t, createAccessTokens(config([k1])).verify(foreign.token, now), 'unauthenticated');
  const noKid = await handSigned({ alg: 'HS256', typ: 'JWT' }, 'user');
  await refused(t, createAccessTokens(config([k1])).verify(noKid, now), 'unauthenticated');
});

test('garbage and claims of the wrong shape are refused', async (t) => {
  const tokens = createAccessTokens(config([k1]));
  await refused(t, tokens.verify('not.a.token', now), 'unauthenticated');
  await refused(t, tokens.verify('', now), 'unauthenticated');
  const badRole = await handSigned({ alg: 'HS256', kid: 'k1', typ: 'JWT' }, 'superuser');
  await refused(t, tokens.verify(badRole, now), 'unauthenticated');
});

test('refresh tokens: vlr_<session hex>_<secret>, random, stored only as SHA-256, session found from the token', (t) => {
  const a = generateRefreshToken(sessionId);
  const b = generateRefreshToken(sessionId);
  t.regex(a.token, /^vlr_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
  t.not(a.token, b.token);
  t.is(a.tokenHash, sha256Hex(a.token));
  t.regex(a.tokenHash, /^[0-9a-f]{64}$/);
  t.deepEqual(parseRefreshToken(a.token), { sessionId, tokenHash: a.tokenHash });
  t.is(parseRefreshToken('vlr_abc'), undefined);
  t.is(parseRefreshToken(a.token.replace('vlr_', 'vlg_')), undefined, 'an API key is not a refresh token');
});
