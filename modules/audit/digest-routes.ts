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
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { RouteGroup } from '../../platform/http/routes.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { auditTag } from './routes.ts';

export interface DigestRoutesOptions {
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  readonly auditKeys: AuditKeyRing;
  readonly digester: AuditDigester;
}

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
  const { auditKeys, digester } = options;
  const routes = new RouteGroup(options.openapi, auditTag);
  routes.add({
    method: 'get',
    path: '/api/v1/audit/digest',
    summary: 'A signed statement of the whole log up to its newest event (admin)',
    description:
      'Ed25519 over position, event count and head (a hash over every event in the order subscribers read them). ' +
      'Keep it outside the service: `POST /api/v1/audit/verify` later shows whether the log still reproduces it.',
    access: 'admin',
    responses: { 200: { description: 'The digest', schema: auditDigestSchema } },
    handler: async (ctx) => {
      ctx.body = await digester.digest('request');
    },
  });
  routes.add({
    method: 'get',
    path: '/api/v1/audit/keys',
    summary: 'The public keys that sign audit digests, as a JWK set (any signed-in caller)',
    description:
      'The signing key first, then retired keys whose digests still verify. ' +
      'The CLI prints the same: `npm run vialog -- audit keys`.',
    responses: { 200: { description: 'JWK set (RFC 7517, Ed25519 keys as in RFC 8037)', schema: keySetSchema } },
    handler: (ctx) => {
      ctx.body = jwkSet(auditKeys.verify);
    },
  });
  verifyRoute(routes, options);
  return routes.router;
}

/** One verification at a time: it reads the whole log. */
function verifyRoute(routes: RouteGroup, { knex, store, auditKeys }: DigestRoutesOptions): void {
  let verifying = false;
  routes.add({
    method: 'post',
    path: '/api/v1/audit/verify',
    summary: 'Check a digest against the event log itself (admin)',
    description:
      'Checks the signature, then recomputes the head from the events (never a read model) ' +
      'up to the digest position. ' +
      'Problems by kind: `bad_signature`, `modified`, `missing`, `inserted`, `reordered`, `emptied`, ' +
      'with position and stream where known. ' +
      'One verification runs at a time; another meanwhile is 429 `rate_limited`.',
    access: 'admin',
    body: verifyBody,
    responses: {
      200: { description: 'The result (`ok: false` lists the problems)', schema: verificationSchema },
    },
    handler: async (ctx, { body: { digest } }) => {
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
    },
  });
}
