// Security headers from koa-helmet, worked out once at start-up and then set on every answer
// (helmet's values are the same for every request; running its middleware chain per request cost
// a visible share of a small request).
//
// Two profiles. Every answer gets the API profile: this service answers JSON, and OWASP's REST
// Security Cheat Sheet asks an API for a deny-all CSP, no framing, nosniff, HSTS and no caching of
// what may be clinical data. Helmet's remaining defaults only mean something to a browser rendering
// a document (COOP, Origin-Agent-Cluster, DNS prefetch, IE download options, Flash policies, the
// old XSS auditor), so only the HTML page (/docs) adds them, with documentSecurityHeaders(), and
// a CSP that lets that page run Swagger UI from this origin.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Context } from 'koa';
import helmet from 'koa-helmet';

type HelmetOptions = NonNullable<Parameters<typeof helmet>[0]>;

/** koa-helmet's options for JSON answers (OWASP REST Security Cheat Sheet, "Security Headers"). */
export const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/** Not helmet's: responses carry a user's records; routes that may be cached say so themselves. */
const API_EXTRA: [string, string][] = [['cache-control', 'no-store']];

/** The headers koa-helmet sets with these options, taken from one run against a throwaway response. */
async function helmetHeaders(options?: HelmetOptions): Promise<[string, string][]> {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  await helmet(options)({ req, res } as unknown as Context, () => Promise.resolve());
  return Object.entries(res.getHeaders()).map(([name, value]) => [
    name,
    Array.isArray(value) ? value.join(', ') : String(value),
  ]);
}

const API_HEADERS: [string, string][] = [...(await helmetHeaders(API_HELMET_OPTIONS)), ...API_EXTRA];
// What helmet's defaults add for documents; CSP and framing stay the API's (stricter) ones.
const API_NAMES = new Set(API_HEADERS.map(([name]) => name));
const DOCUMENT_HEADERS: [string, string][] = (await helmetHeaders()).filter(([name]) => !API_NAMES.has(name));

/** The API profile's headers, on every answer (a step of the first middleware, see app.ts). */
export function applySecurityHeaders(ctx: Context): void {
  for (const [name, value] of API_HEADERS) ctx.res.setHeader(name, value);
}

/**
 * The docs page's CSP: Swagger UI's script, init script and stylesheet from this origin only (no
 * inline script), its icons as data: images, and "try it" requests to this origin only.
 */
export const DOCUMENT_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** For an HTML answer (/docs): helmet's document headers on top of the API profile, and its own CSP. */
export function documentSecurityHeaders(ctx: Context): void {
  for (const [name, value] of DOCUMENT_HEADERS) ctx.res.setHeader(name, value);
  ctx.res.setHeader('content-security-policy', DOCUMENT_CONTENT_SECURITY_POLICY);
}

/** What every answer carries (for tests and docs). */
export const securityHeaderNames: readonly string[] = API_HEADERS.map(([name]) => name);
/** What HTML answers carry in addition. */
export const documentSecurityHeaderNames: readonly string[] = DOCUMENT_HEADERS.map(([name]) => name);
