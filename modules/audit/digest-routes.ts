// Signed audit digests over HTTP (API.md, "Audit digests"): issue one, publish the public keys,
// and verify a digest against the event log itself (platform/audit/). Issuing and verifying are
// for administrators; the public keys for every signed-in caller (an auditor's account included).
import type { Knex } from 'knex';
import { z } from 'zod';
import { auditDigestSchema } from '../../platform/audit/digest.ts';
import { storedDigests } from '../../platform/audit/digest-store.ts';
import type { AuditDigester } from '../../platform/audit/digester.ts';
import { jwkSet, type AuditKeyRing } from '../../platform/audit/keys.ts';
import { problemKinds, verifyLog } from '../../platform/audit/verify-log.ts';
import type { EventStore } from '../../platform/eventstore/port.ts';
import { jsonContent, problemResponse, type OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { requireAuth } from '../../platform/http/require-auth.ts';
import { createRouter, type AppContext, type AppRouter } from '../../platform/http/state.ts';
import { parseBody } from '../../platform/http/validate.ts';

export interface DigestRoutesOptions {
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  readonly auditKeys: AuditKeyRing;
  readonly digester: AuditDigester;
}

const requireAdmin = (ctx: AppContext) => {
  const auth = requireAuth(ctx);
  if (auth.role !== 'admin') throw new HttpProblem(403, 'forbidden', 'This route is for administrators.');
  return auth;
};

const jwkSchema = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string(),
  kid: z.string(),
  alg: z.literal('EdDSA'),
  use: z.literal('sig'),
});
const keySetSchema = z.object({ keys: z.array(jwkSchema) }).meta({ id: 'AuditKeySet' });
const verifyBody = z.strictObject({ digest: auditDigestSchema });
const problemSchema = z.object({
  kind: z.enum(problemKinds),
  position: z.string().optional().meta({ description: 'The event concerned ("<commit>/<prepare>"), when known' }),
  streamId: z.string().optional(),
  detail: z.string(),
});
const verificationSchema = z
  .object({
    ok: z.boolean(),
    checkedEvents: z.number().int(),
    firstBrokenPosition: z.string().nullable(),
    problems: z.array(problemSchema),
  })
  .meta({ id: 'AuditLogVerification' });

export function digestRouter(options: DigestRoutesOptions): AppRouter {
  const { knex, store, openapi, auditKeys, digester } = options;
  const router = createRouter({ prefix: '/api/v1/audit' });
  const tags = ['audit'];
  const forbidden = problemResponse('`forbidden`: not an admin');

  openapi.add('get', '/api/v1/audit/digest', {
    tags,
    summary: 'A signed statement of the whole log up to its newest event (admin)',
    description:
      'Ed25519 over position, event count and head (a hash over every event in the order subscribers read them). ' +
      'Keep it outside the service: `POST /api/v1/audit/verify` later shows whether the log still reproduces it.',
    responses: {
      '200': { description: 'The digest', ...jsonContent(auditDigestSchema) },
      '403': forbidden,
    },
  });
  router.get('/digest', async (ctx) => {
    requireAdmin(ctx);
    ctx.body = await digester.digest('request');
  });

  openapi.add('get', '/api/v1/audit/keys', {
    tags,
    summary: 'The public keys that sign audit digests, as a JWK set (any signed-in caller)',
    description:
      'The signing key first, then retired keys whose digests still verify. ' +
      'The CLI prints the same: `npm run vialog -- audit keys`.',
    responses: {
      '200': { description: 'JWK set (RFC 7517, Ed25519 keys as in RFC 8037)', ...jsonContent(keySetSchema) },
    },
  });
  router.get('/keys', (ctx) => {
    requireAuth(ctx);
    ctx.body = jwkSet(auditKeys.verify);
  });

  let verifying = false;
  openapi.add('post', '/api/v1/audit/verify', {
    tags,
    summary: 'Check a digest against the event log itself (admin)',
    description:
      'Checks the signature, then recomputes the head from the events (never a read model) ' +
      'up to the digest position. ' +
      'Problems by kind: `bad_signature`, `modified`, `missing`, `inserted`, `reordered`, `emptied`, ' +
      'with position and stream where known. ' +
      'One verification runs at a time; another meanwhile is 429 `rate_limited`.',
    requestBody: { content: { 'application/json': { schema: verifyBody } } },
    responses: {
      '200': { description: 'The result (`ok: false` lists the problems)', ...jsonContent(verificationSchema) },
      '403': forbidden,
    },
  });
  router.post('/verify', async (ctx) => {
    requireAdmin(ctx);
    const { digest } = parseBody(ctx, verifyBody);
    if (verifying) {
      const detail = 'A verification is running; try again when it is done.';
      throw new HttpProblem(429, 'rate_limited', detail, { headers: { 'Retry-After': '10' } });
    }
    verifying = true;
    try {
      ctx.body = await verifyLog(store, digest, auditKeys.verify, { checkpoints: await storedDigests(knex) });
    } finally {
      verifying = false;
    }
  });
  return router;
}
