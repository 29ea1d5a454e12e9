// A LISTEN connection for one PostgreSQL channel that stays up: it reconnects after a drop and
// then calls onReconnect, because notifications sent while it was away are lost (the caller
// drops whatever the notifications were keeping fresh).
import pg from 'pg';

export interface ChannelListener {
  close(): Promise<void>;
}

export interface ListenOptions {
  readonly databaseUrl: string;
  /** [a-z_][a-z0-9_]*: used as an identifier. */
  readonly channel: string;
  readonly onMessage: (payload: string) => void;
  /** After a reconnect: anything missed in between is unknown. */
  readonly onReconnect: () => void;
  readonly onError: (error: unknown) => void;
  readonly retryMs?: number;
}

export async function listenToChannel(options: ListenOptions): Promise<ChannelListener> {
  if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new Error(`bad channel name ${options.channel}`);
  const retryMs = options.retryMs ?? 1_000;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const scheduleReconnect = () => {
    if (closed) return;
    retry = setTimeout(() => {
      connect().then(options.onReconnect, (error: unknown) => {
        options.onError(error);
        scheduleReconnect();
      });
    }, retryMs);
    retry.unref();
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({
      connectionString: options.databaseUrl,
      application_name: `vialog-listen-${options.channel}`,
    });
    c.on('notification', (message) => options.onMessage(message.payload ?? ''));
    const dropped = (error?: unknown) => {
      if (client !== c) return; // not (or no longer) the live connection
      client = undefined;
      if (error) options.onError(error);
      c.end().catch(() => undefined);
      if (closed) return;
      options.onReconnect(); // messages missed from here on are unknown
      scheduleReconnect();
    };
    c.on('error', dropped);
    c.on('end', () => dropped());
    try {
      await c.connect();
      await c.query(`LISTEN ${options.channel}`);
    } catch (error) {
      await c.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
  };
  await connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
