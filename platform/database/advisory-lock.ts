// Leadership for work only one process may do at a time (a projection's runner, signing audit
// digests on a schedule): a session-level PostgreSQL advisory lock held on a dedicated connection.
// Ending the connection (stop, crash, kill -9, network loss) releases it, and a standby's next try
// takes over.
//
// A connection can also die in silence (a node that vanished, a dropped NAT entry): the server
// would keep the session, and the lock, for hours, and the holder would go on leading on a lock it
// may no longer hold. So both ends send TCP keepalives (the server's are set for this session),
// and an optional heartbeat query that fails or does not answer in time ends the leadership at
// once, before a standby can take the lock over.
import pg from 'pg';

/** Server side: probe an idle lock connection after 10 s, every 5 s, give up after 3 misses. */
const SERVER_KEEPALIVES = 'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3';

export interface AdvisoryLock {
  /** Aborted when the lock connection drops or misses a heartbeat: the lock may be gone, stop leading. */
  readonly lost: AbortSignal;
  /** True while the session holding the lock still answers. */
  alive(): Promise<boolean>;
  release(): Promise<void>;
}

export interface AdvisoryLockOptions {
  /** First key of the lock: one per kind of lock, so kinds never collide. */
  readonly namespace: number;
  /** Second key is hashtext(key). */
  readonly key: string;
  readonly applicationName: string;
  /** How often the connection is checked; a check that fails or takes as long ends leadership. */
  readonly heartbeatMs?: number;
}

/** Tries once; undefined when another session holds the lock. */
export async function tryAdvisoryLock(
  databaseUrl: string,
  options: AdvisoryLockOptions,
): Promise<AdvisoryLock | undefined> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: options.applicationName.slice(0, 63),
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
      'SELECT pg_try_advisory_lock($1::int4, hashtext($2::text)) AS locked',
      [options.namespace, options.key],
    );
    if (result.rows[0]?.locked !== true) {
      await client.end();
      return undefined;
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  const stopHeartbeat =
    options.heartbeatMs === undefined ? () => undefined : heartbeat(client, options.heartbeatMs, lost);
  lost.signal.addEventListener('abort', stopHeartbeat);
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
