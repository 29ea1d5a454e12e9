// given/when/then specs of the API key decider (apikey-<id>) and the key format.
import test from 'ava';
import type { ApiKeyCommand } from '../../modules/identity/decide.ts';
import { apiKeyDecider, systemActor } from '../../modules/identity/decide.ts';
import { identityStreams, streamOf } from '../../modules/identity/events.ts';
import type { IdentityEventOf } from '../../modules/identity/events.ts';
import { generateApiKey, parseApiKey, sha256Hex } from '../../modules/identity/tokens.ts';
import { deciderSpec } from '../support/decider-spec.ts';
import { admin, adminId, keyId, later, now, self, stranger, userId } from '../support/identity-fixtures.ts';

const spec = deciderSpec(apiKeyDecider);
const generated = generateApiKey(keyId);

const create = (name = 'lab robot', owner = { userId, isActive: true }): ApiKeyCommand => ({
  type: 'CreateApiKey',
  data: { keyId, owner, name, prefix: generated.prefix, secretHash: generated.secretHash, now },
});
const created: IdentityEventOf<'ApiKeyCreated'> = {
  type: 'ApiKeyCreated',
  data: {
    keyId,
    userId,
    name: 'lab robot',
    prefix: generated.prefix,
    secretHash: generated.secretHash,
    createdAt: now.toISOString(),
  },
};
const revokedBy = (by: string | null, at = later(60)): IdentityEventOf<'ApiKeyRevoked'> => ({
  type: 'ApiKeyRevoked',
  data: { keyId, userId, revokedBy: by, revokedAt: at.toISOString() },
});
const authenticate = (key: string, at = later(120), ownerIsActive = true): ApiKeyCommand => ({
  type: 'AuthenticateApiKey',
  data: { presentedKeyHash: sha256Hex(key), ownerIsActive, now: at },
});

test('api key format: vlg_<key id hex>_<43 base64url chars>; the key id comes back out of the key', (t) => {
  t.regex(generated.key, /^vlg_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
  t.is(generated.prefix, `vlg_${keyId.replaceAll('-', '')}`);
  t.true(generated.key.startsWith(`${generated.prefix}_`));
  t.deepEqual(parseApiKey(generated.key), { keyId, keyHash: generated.secretHash });
  t.is(parseApiKey('vlg_nothex_abc'), undefined);
  t.is(parseApiKey(`${generated.key}x`), undefined);
  t.not(generateApiKey(keyId).key, generated.key, 'every key has a fresh secret');
});

test('create: records name, prefix and the SHA-256 of the key, never the key', (t) => {
  spec(t).given([]).when(create('  lab robot ')).then([created]);
  t.false(JSON.stringify(created).includes(generated.key));
});

test('create: the name is 1 to 100 characters after trimming', (t) => {
  for (const name of ['   ', 'x'.repeat(101)]) {
    spec(t)
      .given([])
      .when(create(name))
      .thenFails({
        code: 'validation_failed',
        errors: [{ path: 'name', message: 'must be 1 to 100 characters long' }],
      });
  }
});

test('create: an inactive owner cannot; the same key id twice is a conflict', (t) => {
  spec(t)
    .given([])
    .when(create('x', { userId, isActive: false }))
    .thenFails({ code: 'account_inactive' });
  spec(t).given([created]).when(create()).thenFails({ code: 'conflict' });
});

test('revoke: the owner revokes; an admin revokes; again changes nothing', (t) => {
  spec(t)
    .given([created])
    .when({ type: 'RevokeApiKey', data: { actor: self, now: later(60) } })
    .then([revokedBy(userId)]);
  spec(t)
    .given([created])
    .when({ type: 'RevokeApiKey', data: { actor: admin, now: later(60) } })
    .then([revokedBy(adminId)]);
  spec(t)
    .given([created])
    .when({ type: 'RevokeApiKey', data: { actor: systemActor, now: later(60) } })
    .then([revokedBy(null)]);
  spec(t)
    .given([created, revokedBy(userId)])
    .when({ type: 'RevokeApiKey', data: { actor: self, now: later(90) } })
    .then([]);
});

test("revoke: someone else's key or an unknown key is not_found (existence stays secret)", (t) => {
  spec(t)
    .given([created])
    .when({ type: 'RevokeApiKey', data: { actor: stranger, now } })
    .thenFails({ code: 'not_found' });
  spec(t)
    .given([])
    .when({ type: 'RevokeApiKey', data: { actor: self, now } })
    .thenFails({ code: 'not_found' });
});

test('authenticate: the right key passes and yields the day’s ApiKeyUsed for apikey-usage-<id>-<day>', (t) => {
  const outcome = spec(t).given([created]).when(authenticate(generated.key)).outcome();
  const used = {
    type: 'ApiKeyUsed',
    data: { keyId, userId, day: '2025-03-14', firstUsedAt: later(120).toISOString() },
  } as const;
  t.deepEqual(outcome, { ok: true, events: [used] });
  t.is(streamOf(used), identityStreams.apiKeyUsage(keyId, '2025-03-14'));
});

test('authenticate: a revoked key stops working at once; a wrong secret or unknown key is refused', (t) => {
  spec(t)
    .given([created, revokedBy(userId)])
    .when(authenticate(generated.key))
    .thenFails({ code: 'invalid_credentials' });
  spec(t)
    .given([created])
    .when(authenticate(generateApiKey(keyId).key))
    .thenFails({ code: 'invalid_credentials' });
  spec(t).given([]).when(authenticate(generated.key)).thenFails({ code: 'invalid_credentials' });
});

test('authenticate: the key of a deactivated user stops working', (t) => {
  spec(t)
    .given([created])
    .when(authenticate(generated.key, later(120), false))
    .thenFails({ code: 'account_inactive' });
});
