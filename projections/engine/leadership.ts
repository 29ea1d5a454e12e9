// One runner per projection across all processes: a session-level advisory lock (see
// platform/database/advisory-lock.ts), held for as long as the runner leads, with a heartbeat so a
// connection that died in silence ends the leadership before a standby takes over.
import type { Knex } from 'knex';
import { tryAdvisoryLock, type AdvisoryLock } from '../../platform/database/advisory-lock.ts';

/** First key of every projection lock ("VIAL"), so they never collide with other advisory locks. */
const LOCK_NAMESPACE = 0x5649414c;

export type ProjectionLock = Pick<AdvisoryLock, 'lost' | 'release'>;

export interface LockOptions {
  /** How often the lock connection is checked; a check that fails or takes as long ends leadership. Default 5000. */
  readonly heartbeatMs?: number;
}

/** Tries once; undefined when another session holds the lock. */
export function tryAcquireProjectionLock(
  databaseUrl: string,
  projectionName: string,
  options: LockOptions = {},
): Promise<ProjectionLock | undefined> {
  return tryAdvisoryLock(databaseUrl, {
    namespace: LOCK_NAMESPACE,
    key: `projection:${projectionName}`,
    applicationName: `vialog-projection-${projectionName}`,
    heartbeatMs: options.heartbeatMs ?? 5_000,
  });
}

/** Names (of those given) whose lock some session holds right now: they have a live leader. */
export async function projectionsWithLeader(db: Knex, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const result = await db.raw<{ rows: { name: string }[] }>(
    `SELECT n.name FROM unnest(?::text[]) AS n(name)
     WHERE EXISTS (
       SELECT 1 FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND l.classid = ?::int4::oid
         AND l.objid = hashtext('projection:' || n.name)::oid)`,
    [[...names], LOCK_NAMESPACE],
  );
  return new Set(result.rows.map((r) => r.name));
}
