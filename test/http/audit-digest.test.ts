// Signed audit digests over HTTP (API.md, "Audit digests"): who may issue, read keys and verify;
// a digest checks offline with nothing but the published JWK set; a retired key still verifies;
// verification against the log finds a DBA's edit; the service signs digests on its own, into
// its log and the audit_digests table.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import test from 'ava';
import pg from 'pg';
import { digestMessage, signDigest } from '../../platform/audit/digest.ts';
import { generateAuditKey, signingKeyFromSeed } from '../../platform/audit/keys.ts';
import { call, loginToken, newUser, bootstrapAdmin, useTestService, type TestUser } from '../support/service.ts';
import { eventually } from '../support/eventually.ts';

let alice: TestUser;
let adminToken: string;
const admin = { username: 'digest-admin', password: 'Granite-Pelican-Orbit-52' };
const current = generateAuditKey('k2');
const retiredSeed = randomBytes(32);
const retired = signingKeyFromSeed('k1', retiredSeed);
const retiredPublic = retired.publicKey.export({ format: 'jwk' }).x!;

const svc = useTestService(test, {
  ...bootstrapAdmin(admin),
  AUDIT_SIGNING_KEY: current.signingKey,
  AUDIT_VERIFY_KEYS: `k1:${retiredPublic}`,
  AUDIT_DIGEST_EVERY_EVENTS: '5',
  AUDIT_DIGEST_INTERVAL_SECONDS: '2',
});
test.before(async () => {
  adminToken = await loginToken(svc.api, admin);
  alice = await newUser(svc.api, 'alice');
  const sample = { sampleType: 'blood', subjectId: 'P001', collectionDate: new Date().toISOString().slice(0, 10) };
  await call(svc.api, 'POST', '/samples', { token: alice.accessToken, body: sample });
});

test.serial('digests and verification are for administrators; the keys for any signed-in caller', async (t) => {
  t.is((await call(svc.api, 'GET', '/audit/digest')).status, 401);
  t.is((await call(svc.api, 'GET', '/audit/digest', { token: alice.accessToken })).status, 403);
  t.is((await call(svc.api, 'GET', '/audit/keys')).status, 401);
  t.is((await call(svc.api, 'GET', '/audit/keys', { token: alice.accessToken })).status, 200);
  const digest = (await call(svc.api, 'GET', '/audit/digest', { token: adminToken })).body;
  const asUser = await call(svc.api, 'POST', '/audit/verify', { token: alice.accessToken, body: { digest } });
  t.is(asUser.status, 403);
});

test.serial('a digest checks offline with nothing but the published JWK set, retired keys included', async (t) => {
  const answer = await call(svc.api, 'GET', '/audit/digest', { token: adminToken });
  t.is(answer.status, 200);
  const digest = answer.body;
  t.like(digest, { keyId: 'k2', algorithm: 'Ed25519' });
  t.regex(digest.position, /^\d+\/\d+$/);
  t.true(digest.eventCount >= 5);
  type Jwk = { kid: string; kty: string; crv: string; x: string };
  const { keys } = (await call(svc.api, 'GET', '/audit/keys', { token: adminToken })).body as { keys: Jwk[] };
  t.deepEqual(
    keys.map((k) => k.kid),
    ['k2', 'k1'],
  );
  t.is(keys[1]!.x, retiredPublic);
  const jwk = keys.find((k) => k.kid === digest.keyId)!;
  const { signature, ...unsigned } = digest;
  const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
  t.true(verify(null, digestMessage(unsigned), publicKey, Buffer.from(signature, 'base64url')));
});

test.serial('verify: ok for the log as it is; a digest signed with a retired key still verifies', async (t) => {
  const digest = (await call(svc.api, 'GET', '/audit/digest', { token: adminToken })).body;
  const answer = await call(svc.api, 'POST', '/audit/verify', { token: adminToken, body: { digest } });
  t.is(answer.status, 200);
  t.deepEqual(answer.body, { ok: true, checkedEvents: digest.eventCount, firstBrokenPosition: null, problems: [] });
  // What the service signed with k1 before the rotation: the same statement, the old key.
  const [commit, prepare] = (digest.position as string).split('/').map(BigInt) as [bigint, bigint];
  const state = { position: { commit, prepare }, eventCount: digest.eventCount, head: Buffer.from(digest.head, 'hex') };
  const old = signDigest(state, { signing: retired, verify: [retired] });
  t.like((await call(svc.api, 'POST', '/audit/verify', { token: adminToken, body: { digest: old } })).body, {
    ok: true,
  });
  const stranger = signingKeyFromSeed('k3', randomBytes(32));
  const foreign = signDigest(state, { signing: stranger, verify: [stranger] });
  const refused = (await call(svc.api, 'POST', '/audit/verify', { token: adminToken, body: { digest: foreign } })).body;
  t.like(refused, { ok: false, checkedEvents: 0, problems: [{ kind: 'bad_signature' }] });
});

test.serial('verify refuses what is not a digest: 422 naming the fields, nothing checked', async (t) => {
  const digest = (await call(svc.api, 'GET', '/audit/digest', { token: adminToken })).body;
  const verifying = (body: unknown) => call(svc.api, 'POST', '/audit/verify', { token: adminToken, body });
  const bad = await verifying({ digest: { ...digest, head: 'nope', extra: 1 } });
  t.is(bad.status, 422);
  t.deepEqual(bad.body.errors.map((e: { path: string }) => e.path).sort(), ['digest.extra', 'digest.head']);
  t.is((await verifying({})).status, 422);
  t.is((await verifying({ digest: { ...digest, position: '1/2/3' } })).status, 422);
});

test.serial('the service signs digests on its own, by events and by time, into its log and table', async (t) => {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    const triggers = async () => {
      const { rows } = await client.query<{ trigger: string }>('SELECT DISTINCT trigger FROM audit_digests');
      return new Set(rows.map((r) => r.trigger));
    };
    for (let i = 0; i < 3; i++) await newUser(svc.api, 'busy'); // well over 5 events
    const seen = await eventually(triggers, (s) => s.has('events') && s.has('time'));
    t.true(seen.has('events'), 'signed after AUDIT_DIGEST_EVERY_EVENTS events');
    t.true(seen.has('time'), 'signed after AUDIT_DIGEST_INTERVAL_SECONDS');
    type Line = { msg: string; auditDigest?: { signature: string } };
    const logged = svc.logLines.map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'audit digest signed');
    const { rows } = await client.query<{ digest: { signature: string } }>('SELECT digest FROM audit_digests');
    const stored = rows.map((r) => r.digest.signature);
    t.true(logged.length > 0);
    t.true(
      logged.every((l) => stored.includes(l.auditDigest!.signature)),
      'every digest in the log is the one stored',
    );
  } finally {
    await client.end();
  }
});

test.serial('verify finds an event a DBA edited after the digest was signed, at its position', async (t) => {
  const digest = (await call(svc.api, 'GET', '/audit/digest', { token: adminToken })).body;
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  let tampered: string;
  try {
    const target = await client.query<{ commit: string; position: string; stream_id: string }>(
      `SELECT transaction_id::text AS commit, position::text AS position, stream_id FROM events
        WHERE type = 'SampleRegistered' AND data->>'ownerId' = $1`,
      [alice.id],
    );
    const row = target.rows[0]!;
    tampered = `${row.commit}/${row.position}`;
    await client.query('BEGIN');
    await client.query('ALTER TABLE events DISABLE TRIGGER USER');
    await client.query(`UPDATE events SET data = data || '{"subjectId": "P999"}' WHERE position = $1`, [row.position]);
    await client.query('ALTER TABLE events ENABLE TRIGGER USER');
    await client.query('COMMIT');
    const answer = await call(svc.api, 'POST', '/audit/verify', { token: adminToken, body: { digest } });
    const problems = [{ kind: 'modified', position: tampered, streamId: row.stream_id }];
    t.like(answer.body, { ok: false, firstBrokenPosition: tampered, problems });
  } finally {
    await client.end();
  }
});
