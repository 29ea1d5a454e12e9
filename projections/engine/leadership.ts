// One runner per projection across all processes: a session-level Postgres advisory lock, held
// on a dedicated connection for as long as the runner leads. Closing that connection (stop,
// crash, kill -9, network loss) releases the lock, and a standby's next try takes over.
//
// A connection can also die in silence (a node that vanished, a dropped NAT entry): the server
// would keep the session, and the lock, for hours, and the runner would go on leading on a lock
// it may no longer hold. So both ends send TCP keepalives (the server's are set for this session),
// and the runner runs a heartbeat query: one that fails or does not answer in time ends the
// leadership at once, before a standby can take the lock over.
import pg from 'pg';
import type { Knex } from 'knex';

/** First key of every projection lock ("VIAL"), so they never collide with other advisory locks. */
const LOCK_NAMESPACE = 0x5649414c;

/** Server side: probe an idle lock connection after 10 s, every 5 s, give up after 3 misses. */
const SERVER_KEEPALIVES = 'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3';

export interface ProjectionLock {
  /** Aborted when the lock connection drops or misses a heartbeat: the lock may be gone, stop leading. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface LockOptions {
  /** How often the lock connection is checked; a check that fails or takes as long ends leadership. Default 5000. */
  readonly heartbeatMs?: number;
}

/** Tries once; undefined when another session holds the lock. */
export async function tryAcquireProjectionLock(
  databaseUrl: string,
  projectionName: string,
  options: LockOptions = {},
): Promise<ProjectionLock | undefined> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: `vialog-projection-${projectionName}`,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: 10_000,
  });
  const lost = new AbortController();
  client.on('error', () => lost.abort());
  client.on('end', () => lost.abort());
  await client.connect();
  try {
    await client.query(SERVER_KEEPALIVES);
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
  const stopHeartbeat = heartbeat(client, options.heartbeatMs ?? 5_000, lost);
  lost.signal.addEventListener('abort', stopHeartbeat);
  return {
    lost: lost.signal,
    release: async () => {
      stopHeartbeat();
      // Ending the session releases the advisory lock. (With a heartbeat still hanging, pg drops
      // the socket instead; the server then ends the session through its keepalives.)
      await client.end().catch(() => undefined);
    },
  };
}

/** Checks the connection every `intervalMs`; a failure or no answer within `intervalMs` aborts `lost`. */
function heartbeat(client: pg.Client, intervalMs: number, lost: AbortController): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const beat = async () => {
    let answer: boolean | undefined;
    const query = client.query('SELECT 1').then(
      () => (answer = true),
      () => (answer = false),
    );
    await Promise.race([query, new Promise((resolve) => setTimeout(resolve, intervalMs))]);
    // A busy event loop runs the timer before the socket's data: let pending I/O in first.
    if (answer === undefined) await new Promise((resolve) => setImmediate(resolve));
    if (stopped) return;
    if (answer !== true) return lost.abort();
    timer = setTimeout(() => void beat(), intervalMs);
  };
  timer = setTimeout(() => void beat(), intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
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
