// Telling a client that a command's answer may not show in reads yet. A command waits (bounded)
// for the read models it affects to reach its write; when they do not — the wait timed out, or a
// read model is failed or rebuilding for new code and will not move soon — the command still
// succeeded, and its answer carries `Vialog-Read-Your-Writes: stale`: the write is recorded, but
// queries may not show it for a while. The composition root notes the stale wait through
// noteStaleRead(); this middleware keeps the note per request (AsyncLocalStorage), so command
// code needs no change to pass it on.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Middleware } from 'koa';

export const READ_YOUR_WRITES_HEADER = 'Vialog-Read-Your-Writes';

interface RequestFreshness {
  stale: boolean;
}

const requests = new AsyncLocalStorage<RequestFreshness>();

/** Marks the answer of the request being handled (if any) as possibly stale for reads. */
export function noteStaleRead(): void {
  const freshness = requests.getStore();
  if (freshness) freshness.stale = true;
}

/** Sets the header on answers of requests whose read-your-writes wait fell short (reads never wait: skipped). */
export function readYourWritesMiddleware(): Middleware {
  return async (ctx, next): Promise<void> => {
    if (ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.method === 'OPTIONS') {
      await next();
      return;
    }
    const freshness: RequestFreshness = { stale: false };
    await requests.run(freshness, () => next() as Promise<unknown>);
    if (freshness.stale) ctx.set(READ_YOUR_WRITES_HEADER, 'stale');
  };
}
