// The audit_digests table (projections/migrations/011_audit_digests.ts): every digest the service
// signed, exactly as published. Append-only; read back as checkpoints for verification and as the
// point the next digest continues from.
import type { Knex } from 'knex';
import { parsePosition } from '../eventstore/port.ts';
import { auditDigestSchema, digestSignatureProblem, type AuditDigest } from './digest.ts';
import type { AuditVerifyKey } from './keys.ts';

export const digestTriggers = ['events', 'time', 'request', 'command'] as const;
export type DigestTrigger = (typeof digestTriggers)[number];

export async function saveDigest(knex: Knex, digest: AuditDigest, trigger: DigestTrigger): Promise<void> {
  const position = parsePosition(digest.position);
  await knex.raw(
    `INSERT INTO audit_digests (position_commit, position_prepare, event_count, trigger, digest)
     VALUES (?, ?, ?, ?, ?::jsonb)`,
    [position.commit.toString(), position.prepare.toString(), digest.eventCount, trigger, JSON.stringify(digest)],
  );
}

/** Every stored digest that is well-formed, oldest position first (signatures not checked here). */
export async function storedDigests(knex: Knex): Promise<AuditDigest[]> {
  const { rows } = await knex.raw<{ rows: { digest: unknown }[] }>(
    'SELECT digest FROM audit_digests ORDER BY position_commit, position_prepare, id',
  );
  return rows.flatMap((row) => {
    const parsed = auditDigestSchema.safeParse(row.digest);
    return parsed.success ? [parsed.data] : [];
  });
}

/** The newest stored digest whose signature holds under one of `keys`. */
export async function latestValidDigest(knex: Knex, keys: readonly AuditVerifyKey[]): Promise<AuditDigest | undefined> {
  const { rows } = await knex.raw<{ rows: { digest: unknown }[] }>(
    'SELECT digest FROM audit_digests ORDER BY position_commit DESC, position_prepare DESC, id DESC LIMIT 1000',
  );
  for (const row of rows) {
    const parsed = auditDigestSchema.safeParse(row.digest);
    if (parsed.success && digestSignatureProblem(parsed.data, keys) === undefined) return parsed.data;
  }
  return undefined;
}
