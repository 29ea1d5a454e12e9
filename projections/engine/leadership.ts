// One runner per projection across all processes: a session-level Postgres advisory lock, held
// on a dedicated connection for as long as the runner leads. Closing that connection (stop,
// crash, kill -9, network loss) releases the lock, and a standby's next try takes over.
import pg from 'pg';
import type { Knex } from 'knex';

/** First key of every projection lock ("VIAL"), so they never collide with other advisory locks. */
const LOCK_NAMESPACE = 0x5649414c;

export interface ProjectionLock {
  /** Aborted when the lock connection drops: the lock may be gone, stop leading. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

/** Tries once; undefined when another session holds the lock. */
export async function tryAcquireProjectionLock(databaseUrl: string, projectionName: string): Promise<ProjectionLock | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: `vialog-projection-${projectionName}` });
  const lost = new AbortController();
  client.on('error', () => lost.abort());
  client.on('end', () => lost.abort());
  await client.connect();
  try {
    const result = await client.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_lock($1::int4, hashtext('projection:' || $2::text)) AS locked`,
      [LOCK_NAMESPACE, projectionName],
    );
    if (result.rows[0]?.locked !== true) {
      await client.end();
      return undefined;
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return {
    lost: lost.signal,
    // Ending the session releases the advisory lock.
    release: () => client.end().catch(() => undefined),
  };
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
