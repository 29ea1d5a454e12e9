// Starts a Koa app on a free port for a test file and stops it afterwards.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type Koa from 'koa';

export interface RunningApp {
  readonly url: string;
  close(): Promise<void>;
}

export async function listen(app: Koa): Promise<RunningApp> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
