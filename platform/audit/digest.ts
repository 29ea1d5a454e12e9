// A signed audit digest: "up to `position`, the log held `eventCount` events whose head is `head`",
// signed with Ed25519 (keys.ts). Like a Certificate Transparency signed tree head or a Rekor
// checkpoint, it is small, stands on its own, and anyone with the public key can check it; kept
// outside the database (the service's log, an auditor's files) it shows whether the log was
// changed since.
import { sign, verify } from 'node:crypto';
import { z } from 'zod';
import { formatPosition, parsePosition } from '../eventstore/port.ts';
import { KEY_ID, type AuditKeyRing, type AuditVerifyKey } from './keys.ts';
import type { LogState } from './log-head.ts';

export const DIGEST_ALGORITHM = 'Ed25519';

export const auditDigestSchema = z
  .strictObject({
    position: z.string().regex(/^-?\d{1,20}\/-?\d{1,20}$/, 'a log position "<commit>/<prepare>"'),
    eventCount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    head: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
    signedAt: z.iso.datetime(),
    keyId: z.string().regex(KEY_ID),
    algorithm: z.literal(DIGEST_ALGORITHM),
    signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature, base64url'),
  })
  .meta({ id: 'AuditDigest' });

export type AuditDigest = z.infer<typeof auditDigestSchema>;

/** The bytes signed: a fixed text form of every field but the signature. */
export function digestMessage(d: Omit<AuditDigest, 'signature'>): Buffer {
  const lines = [
    'vialog-audit-digest/1',
    `position ${d.position}`,
    `eventCount ${d.eventCount}`,
    `head ${d.head}`,
    `signedAt ${d.signedAt}`,
    `keyId ${d.keyId}`,
    `algorithm ${d.algorithm}`,
  ];
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

export function signDigest(state: LogState, keys: AuditKeyRing, now: Date = new Date()): AuditDigest {
  const unsigned = {
    position: formatPosition(state.position),
    eventCount: state.eventCount,
    head: state.head.toString('hex'),
    signedAt: now.toISOString(),
    keyId: keys.signing.kid,
    algorithm: DIGEST_ALGORITHM,
  } as const;
  return { ...unsigned, signature: sign(null, digestMessage(unsigned), keys.signing.privateKey).toString('base64url') };
}

/** Undefined when the signature holds under the key it names; otherwise why not. */
export function digestSignatureProblem(digest: AuditDigest, keys: readonly AuditVerifyKey[]): string | undefined {
  const key = keys.find((k) => k.kid === digest.keyId);
  if (!key) return `no known key has the id ${digest.keyId}`;
  const { signature, ...unsigned } = digest;
  const valid = verify(null, digestMessage(unsigned), key.publicKey, Buffer.from(signature, 'base64url'));
  return valid ? undefined : `the signature does not match the digest under key ${digest.keyId}`;
}

/** The log state a (verified) digest states. */
export function digestState(digest: AuditDigest): LogState {
  const { eventCount } = digest;
  return { position: parsePosition(digest.position), eventCount, head: Buffer.from(digest.head, 'hex') };
}
