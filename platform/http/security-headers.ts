// Security headers (koa-helmet's defaults: CSP, HSTS, nosniff, frame and referrer policies, …),
// worked out once at start-up and then set on every answer. Helmet's defaults are the same for
// every request, and running its dozen middleware functions per request cost a visible share of
// a small request (bench:auth's /health/live); the headers themselves are exactly helmet's.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Context, Middleware } from 'koa';
import helmet from 'koa-helmet';

/** The headers helmet sets on an answer, taken from one run against a throwaway response. */
async function helmetHeaders(): Promise<[string, string][]> {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  await helmet()({ req, res } as unknown as Context, () => Promise.resolve());
  return Object.entries(res.getHeaders()).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]);
}

const HEADERS = await helmetHeaders();

export function securityHeadersMiddleware(): Middleware {
  return async (ctx, next) => {
    for (const [name, value] of HEADERS) ctx.res.setHeader(name, value);
    await next();
  };
}

/** What every answer carries (for tests and docs). */
export const securityHeaderNames: readonly string[] = HEADERS.map(([name]) => name);
