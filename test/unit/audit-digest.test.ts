// The pieces of tamper evidence that need no database: the event digest is unambiguous and covers
// every field; links and heads are the plain formulas; digests sign and verify as Ed25519, and a
// JWK set from GET /audit/keys is enough to check one.
import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import { digestMessage, digestSignatureProblem, signDigest } from '../../platform/audit/digest.ts';
import { generateAuditKey, jwkSet, keysFromJwkSet, signingKeyFromSeed } from '../../platform/audit/keys.ts';
import { chainHashV1, eventDigest, link, type HashedContent } from '../../platform/eventstore/hash-chain.ts';

const event: HashedContent = {
  streamId: 'sample-1',
  revision: 3,
  type: 'SampleMoved',
  schemaVersion: 1,
  dataText: '{"to": "bench"}',
  metadataText: '{"eventId": "x"}',
};
const sha256 = (...parts: (string | Buffer)[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const ring = (kid: string) => {
  const key = signingKeyFromSeed(kid, randomBytes(32));
  return { signing: key, verify: [key] };
};

test('the event digest changes with every field it covers', (t) => {
  const base = eventDigest(event).toString('hex');
  const variants: HashedContent[] = [
    { ...event, streamId: 'sample-2' },
    { ...event, revision: 4 },
    { ...event, type: 'SampleDisposed' },
    { ...event, schemaVersion: 2 },
    { ...event, dataText: '{"to": "shelf"}' },
    { ...event, metadataText: '{"eventId": "y"}' },
  ];
  const digests = variants.map((v) => eventDigest(v).toString('hex'));
  t.false(digests.includes(base));
  t.is(new Set(digests).size, variants.length);
});

test('stream and type are length-prefixed: text moved from one into the other changes the digest', (t) => {
  const one = { ...event, streamId: 'a\n3\nb', revision: 5, type: 'c' };
  const other = { ...event, streamId: 'a', revision: 3, type: 'b\n5\nc' };
  t.false(eventDigest(one).equals(eventDigest(other)));
  // Version 1 could not tell them apart: one reason for version 2.
  t.true(chainHashV1(Buffer.alloc(0), one).equals(chainHashV1(Buffer.alloc(0), other)));
});

test('the version 2 content is exactly the documented bytes', (t) => {
  const text = `vialog-event/2\n8:sample-1\n3\n11:SampleMoved\n1\n{"to": "bench"}\n{"eventId": "x"}`;
  t.true(eventDigest(event).equals(sha256(text)));
  const multibyte = { ...event, streamId: 'probe-Zoë' };
  t.true(eventDigest(multibyte).equals(sha256(text.replace('8:sample-1', '10:probe-Zoë'))));
});

test('a link is sha256(previous || digest), for the first link and later ones', (t) => {
  const digest = randomBytes(32);
  const previous = randomBytes(32);
  t.true(link(Buffer.alloc(0), digest).equals(sha256(digest)));
  t.true(link(previous, digest).equals(sha256(previous, digest)));
  const first = link(previous, digest);
  link(randomBytes(32), randomBytes(32));
  t.true(first.equals(sha256(previous, digest)), 'a result shares no memory with the next call');
});

test('a digest signs and verifies; any changed field, or an unknown key, fails', (t) => {
  const keys = ring('k1');
  const digest = signDigest({ position: { commit: 812n, prepare: 40n }, eventCount: 12, head: randomBytes(32) }, keys);
  t.is(digest.position, '812/40');
  t.is(digestSignatureProblem(digest, keys.verify), undefined);
  t.regex(digestSignatureProblem({ ...digest, eventCount: 13 }, keys.verify) ?? '', /does not match/);
  const earlier = { ...digest, signedAt: new Date(0).toISOString() };
  t.regex(digestSignatureProblem(earlier, keys.verify) ?? '', /does not match/);
  t.regex(digestSignatureProblem(digest, ring('k2').verify) ?? '', /no known key has the id k1/);
  t.regex(digestSignatureProblem(digest, ring('k1').verify) ?? '', /does not match/, 'another key under the same id');
  t.true(digestMessage(digest).toString().startsWith('vialog-audit-digest/1\nposition 812/40\neventCount 12\n'));
});

test('the JWK set round-trips: the keys it publishes verify what the signing key signed', (t) => {
  const made = generateAuditKey('k9');
  const seed = Buffer.from(made.signingKey.split(':')[1]!, 'base64url');
  const key = signingKeyFromSeed('k9', seed);
  const published = JSON.parse(JSON.stringify(jwkSet([key])));
  const x = made.verifyKey.split(':')[1];
  t.like(published.keys[0], { kty: 'OKP', crv: 'Ed25519', kid: 'k9', alg: 'EdDSA', use: 'sig', x });
  const state = { position: { commit: 1n, prepare: 1n }, eventCount: 1, head: randomBytes(32) };
  const digest = signDigest(state, { signing: key, verify: [key] });
  t.is(digestSignatureProblem(digest, keysFromJwkSet(published)), undefined);
  t.throws(() => keysFromJwkSet({ keys: [{ kty: 'RSA', kid: 'x' }] }), { message: /not an Ed25519 key/ });
  t.throws(() => keysFromJwkSet({}), { message: /no "keys" array/ });
});
