// Leadership for work only one process may do at a time (e.g. signing audit digests on a
// schedule): a session-level PostgreSQL advisory lock held on a dedicated connection. Ending the
// connection (stop, crash, network loss) releases it; TCP keepalives find a dead peer, and the
// holder asks `alive()` before each piece of work, giving leadership up when the session is gone.
import pg from 'pg';

/** First key of these locks ("VLDR"); the second is hashtext(name). */
const LOCK_NAMESPACE = 0x564c4452;

export interface AdvisoryLock {
  /** Aborted when the lock connection drops. */
  readonly lost: AbortSignal;
  /** True while the session holding the lock still answers. */
  alive(): Promise<boolean>;
  release(): Promise<void>;
}

/** Tries once; undefined when another session holds the lock. */
export async function tryAdvisoryLock(databaseUrl: string, name: string): Promise<AdvisoryLock | undefined> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: `vialog-lock-${name}`.slice(0, 63),
    keepAlive: true,
  });
  const lost = new AbortController();
  client.on('error', () => lost.abort());
  client.on('end', () => lost.abort());
  await client.connect();
  try {
    const result = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1::int4, hashtext($2::text)) AS locked',
      [LOCK_NAMESPACE, name],
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
    async alive() {
      if (lost.signal.aborted) return false;
      try {
        await client.query('SELECT 1');
        return true;
      } catch {
        lost.abort();
        return false;
      }
    },
    release: () => client.end().catch(() => undefined),
  };
}
