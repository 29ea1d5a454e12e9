// Security headers, set by koa-helmet on every answer.
//
// Two profiles. Every answer gets the API profile: this service answers JSON, and OWASP's REST
// Security Cheat Sheet asks an API for a deny-all CSP, no framing, nosniff, HSTS and no caching of
// what may be clinical data. Helmet's remaining defaults only mean something to a browser rendering
// a document (COOP, Origin-Agent-Cluster, DNS prefetch, IE download options, Flash policies, the
// old XSS auditor), so only the HTML page (/docs) adds them, with documentSecurityHeaders(), and
// a CSP that lets that page run Swagger UI from this origin.
import type { Middleware } from 'koa';
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

/** The API profile, on every answer (the first steps of app.ts). */
export function securityHeaders(): Middleware {
  const apiHeaders = helmet(API_HELMET_OPTIONS);
  return async (ctx, next) => {
    // Not helmet's: responses carry a user's records; routes that may be cached say so themselves.
    ctx.set('Cache-Control', 'no-store');
    await apiHeaders(ctx, next);
  };
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

/**
 * For an HTML answer (/docs): helmet's defaults on top of the API profile, except framing (the
 * API's DENY stays) and the CSP, which is the page's own.
 */
export function documentSecurityHeaders(): Middleware {
  const documentHeaders = helmet({ contentSecurityPolicy: false, xFrameOptions: false });
  return async (ctx, next) => {
    await documentHeaders(ctx, () => {
      ctx.set('Content-Security-Policy', DOCUMENT_CONTENT_SECURITY_POLICY);
      return next();
    });
  };
}

/** What every answer carries (for tests and docs). */
export const securityHeaderNames: readonly string[] = [
  'cache-control',
  'content-security-policy',
  'cross-origin-resource-policy',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
];

/** What HTML answers carry in addition. */
export const documentSecurityHeaderNames: readonly string[] = [
  'cross-origin-opener-policy',
  'origin-agent-cluster',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];
