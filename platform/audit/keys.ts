// The Ed25519 keys that sign audit digests. The signing key lives in configuration only
// (AUDIT_SIGNING_KEY, a 32-byte seed), never in the database; retired keys stay as public keys
// (AUDIT_VERIFY_KEYS) so digests they signed keep verifying after a rotation. The public keys are
// published as a JWK set (RFC 8037: kty OKP, crv Ed25519).
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

export const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export interface AuditVerifyKey {
  readonly kid: string;
  readonly publicKey: KeyObject;
}

export interface AuditSigningKey extends AuditVerifyKey {
  readonly privateKey: KeyObject;
}

export interface AuditKeyRing {
  /** Signs every new digest. */
  readonly signing: AuditSigningKey;
  /** Every key a digest may have been signed with: the signing key first, then retired ones. */
  readonly verify: readonly AuditVerifyKey[];
}

// DER framing of a raw Ed25519 key (RFC 8410): PKCS#8 for the 32-byte seed, SPKI for the public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function signingKeyFromSeed(kid: string, seed: Buffer): AuditSigningKey {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const der = Buffer.concat([PKCS8_PREFIX, seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { kid, privateKey, publicKey: createPublicKey(privateKey) };
}

export function verifyKeyFromRaw(kid: string, raw: Buffer): AuditVerifyKey {
  if (raw.length !== 32) throw new Error('an Ed25519 public key is 32 bytes');
  const der = Buffer.concat([SPKI_PREFIX, raw]);
  return { kid, publicKey: createPublicKey({ key: der, format: 'der', type: 'spki' }) };
}

/** `kid:<base64 or base64url>` → its parts; undefined when it is not of that form. */
function splitPair(text: string): { kid: string; bytes: Buffer } | undefined {
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  const kid = text.slice(0, i).trim();
  const value = text.slice(i + 1).trim();
  if (!KEY_ID.test(kid) || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return undefined;
  return { kid, bytes: Buffer.from(value, 'base64') };
}

/** Parses AUDIT_SIGNING_KEY; a problem is pushed to `problems`. */
export function parseSigningKey(text: string, problems: string[]): AuditSigningKey | undefined {
  const pair = splitPair(text);
  if (pair?.bytes.length === 32) return signingKeyFromSeed(pair.kid, pair.bytes);
  problems.push(
    'AUDIT_SIGNING_KEY: must be kid:<32-byte Ed25519 seed, base64> (make one with `npm run vialog -- audit keygen`)',
  );
  return undefined;
}

/** Parses AUDIT_VERIFY_KEYS (the retired keys); problems are pushed to `problems`. */
export function parseVerifyKeys(
  text: string | undefined,
  signingKid: string | undefined,
  problems: string[],
): AuditVerifyKey[] {
  const retired: AuditVerifyKey[] = [];
  for (const item of (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const parsed = splitPair(item);
    if (parsed?.bytes.length !== 32) {
      problems.push('AUDIT_VERIFY_KEYS: must be comma-separated kid:<32-byte Ed25519 public key, base64>');
      return [];
    }
    if (parsed.kid === signingKid || retired.some((k) => k.kid === parsed.kid)) {
      problems.push(`AUDIT_VERIFY_KEYS: key id ${parsed.kid} is used twice (ids are unique across all audit keys)`);
      return [];
    }
    retired.push(verifyKeyFromRaw(parsed.kid, parsed.bytes));
  }
  return retired;
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const x = key.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new Error('not an Ed25519 key');
  return Buffer.from(x, 'base64url');
}

export interface Jwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

/** The public keys as a JWK set, the signing key first. */
export function jwkSet(keys: readonly AuditVerifyKey[]): { keys: Jwk[] } {
  return {
    keys: keys.map((k) => {
      const x = rawPublicKey(k.publicKey).toString('base64url');
      return { kty: 'OKP', crv: 'Ed25519', x, kid: k.kid, alg: 'EdDSA', use: 'sig' };
    }),
  };
}

/** Verify keys from a JWK set (an auditor's own copy of GET /audit/keys); throws on anything else. */
export function keysFromJwkSet(value: unknown): AuditVerifyKey[] {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('not a JWK set: no "keys" array');
  return keys.map((k: unknown, i) => {
    const jwk = k as Partial<Jwk> | null;
    const ed25519 = jwk?.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string';
    if (!ed25519 || typeof jwk.kid !== 'string' || !KEY_ID.test(jwk.kid)) {
      throw new Error(`JWK set: key ${i} is not an Ed25519 key with a kid`);
    }
    return verifyKeyFromRaw(jwk.kid, Buffer.from(jwk.x, 'base64url'));
  });
}

/** A fresh key pair in the configuration's text form. */
export function generateAuditKey(kid: string): { signingKey: string; verifyKey: string } {
  if (!KEY_ID.test(kid)) throw new Error('a key id is 1–64 of [A-Za-z0-9_.-]');
  const seed = randomBytes(32);
  const key = signingKeyFromSeed(kid, seed);
  return {
    signingKey: `${kid}:${seed.toString('base64url')}`,
    verifyKey: `${kid}:${rawPublicKey(key.publicKey).toString('base64url')}`,
  };
}
