// Starts a Koa app on a free port for a test file and stops it afterwards.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type Koa from 'koa';
import { createHttpApp, type HttpAppOptions } from '../../platform/http/app.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { stateOf } from '../../platform/http/state.ts';
import { createLogger } from '../../platform/logging.ts';

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

/** The HTTP app with only these routers, every request made by one admin: a module's routes tested alone. */
export function listenAsAdmin(routers: HttpAppOptions['routers'], userId: string): Promise<RunningApp> {
  return listen(
    createHttpApp({
      logger: createLogger({ level: 'silent' }),
      bodyLimitBytes: 65_536,
      trustProxy: false,
      openapi: new OpenApiRegistry(),
      readinessChecks: [],
      authenticate: async (ctx, next) => {
        stateOf(ctx).auth = { userId, username: 'auditor', role: 'admin', actorType: 'user' };
        await next();
      },
      routers,
    }),
  );
}
