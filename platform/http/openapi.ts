// The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with.
// Routers register their operations in the registry; /api/v1/openapi.json serves the document and
// /docs renders it with Swagger UI (docs-page.ts). Every operation gets the conventions for free:
// X-Request-Id on every answer and the problem responses every route can give.
import Router from '@koa/router';
import { addDocsPage } from './docs-page.ts';
import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';

export const fieldErrorSchema = z.object({
  path: z
    .string()
    .meta({ description: 'Dotted path of the offending field, e.g. `items.0.name`', example: 'subjectId' }),
  message: z.string(),
});

export const problemSchema = z
  .object({
    type: z.string().meta({ example: '/problems/validation_failed', description: '`/problems/<code>`' }),
    title: z.string().meta({ example: 'Unprocessable Content' }),
    status: z.number().int().meta({ example: 422 }),
    detail: z.string().meta({ description: 'Human-readable; never contains internals (stack, SQL, secrets).' }),
    code: z.string().meta({ example: 'validation_failed', description: 'Stable machine-readable code' }),
    requestId: z.string().meta({ description: 'Same as the X-Request-Id response header' }),
    errors: z
      .array(fieldErrorSchema)
      .optional()
      .meta({ description: 'One entry per broken rule (422 validation_failed, 400 invalid_query)' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details, served as application/problem+json' });

/** `{ content: application/json: schema }`, for request bodies and responses. */
export const jsonContent = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });

export function problemResponse(description: string): ZodOpenApiResponseObject {
  return { description, content: { 'application/problem+json': { schema: problemSchema } } };
}

/** Headers of the house conventions, registered once as components and shared by every operation. */
export const conventionHeaders = {
  requestId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/)
    .meta({
      description:
        'The request id: a valid incoming X-Request-Id (1–128 of `[A-Za-z0-9._:-]`) is kept, otherwise a UUID is generated. Also in every problem body and every event the request caused.',
      header: { id: 'XRequestId' },
    }),
  ifMatch: z.string().meta({
    description:
      'Optimistic concurrency: the version from the resource\'s ETag, e.g. `"3"`. A stale version is refused with 412 `version_mismatch`; a malformed one with 400 `invalid_if_match`.',
    example: '"3"',
    param: { in: 'header', name: 'If-Match', id: 'IfMatch' },
  }),
  idempotencyKey: z
    .string()
    .min(1)
    .max(128)
    .meta({
      description:
        'Up to 128 visible ASCII characters, per user and route (method and path pattern: another spelling of the path is the same route). A repeat with the same key and request from the same user returns the first (2xx) answer with `Idempotent-Replayed: true` and runs nothing; another body, query or path parameter gets 422 `idempotency_key_reused`; a repeat while the first still runs gets 409 `idempotency_request_in_progress`; an answer that held a secret (a new API key) is never kept, so its repeat runs nothing and gets 409 `idempotency_answer_withheld`. Kept 24 h by default; deleted when the account is erased.',
      example: '3f7a1c52-create-sample',
      param: { in: 'header', name: 'Idempotency-Key', id: 'IdempotencyKey' },
    }),
  readYourWrites: z.literal('stale').meta({
    description:
      "Present on a command's 2xx answer when its read-your-writes wait fell short: the write is recorded, " +
      'but queries may not show it yet (a read model is behind, failed or rebuilding). Absent: reads already show it.',
    header: { id: 'VialogReadYourWrites' },
  }),
  changeReason: z
    .string()
    .max(500)
    .meta({
      description:
        'Why the change is made (≤ 500 characters; URL-encode non-ASCII). Stored in the event metadata and shown in history. A body field `reason` does the same.',
      example: 'Re-analysis requested by the PI',
      param: { in: 'header', name: 'X-Change-Reason', id: 'XChangeReason' },
    }),
} as const;

export type ConventionHeader = 'ifMatch' | 'idempotencyKey' | 'changeReason';
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RegisterOptions {
  /** Request headers of the conventions this operation honours (documented as parameters). */
  readonly headers?: readonly ConventionHeader[];
}

const DESCRIPTION = `Event-sourced clinical sample tracking. All API paths start with \`/api/v1\`.

**Authentication.** \`Authorization: Bearer <accessToken>\` (JWT) or \`X-API-Key: <key>\`, on every route except health, docs, register, login, refresh and logout. API key management, password change, erasure and administration need a login session: an API key gets 403 \`forbidden\` there.

**Request ids and tracing.** Every response carries \`X-Request-Id\`: a valid incoming one (1–128 of \`[A-Za-z0-9._:-]\`) is kept, otherwise a UUID is generated. A W3C \`traceparent\` is honoured and stored with the events a request causes.

**Errors.** RFC 9457 problem details, \`Content-Type: application/problem+json\`: \`{ type: "/problems/<code>", title, status, detail, code, requestId, errors?: [{ path, message }] }\` (schema \`Problem\`). They never contain a stack trace, SQL, password, token or hash. Unknown routes answer 404 \`not_found\`, wrong methods 405 \`method_not_allowed\` (with \`Allow\`).

**Bodies.** JSON only (\`Content-Type: application/json\`; another type is 415 \`unsupported_media_type\`), at most 64 KiB by default (413 \`payload_too_large\`); malformed JSON is 400 \`malformed_json\`; a body that breaks a rule, or has an unknown field, is 422 \`validation_failed\` with one \`errors[]\` entry per problem. Unknown or invalid query parameters are 400 \`invalid_query\`; an id that is not a UUID is 400 \`invalid_id\`.

**Text hygiene.** Everywhere — JSON bodies (values and field names, at any depth), query parameters, text path segments and \`X-Change-Reason\` (after URL-decoding) — U+0000, the other C0 control characters except tab, newline and carriage return, and lone UTF-16 surrogates are refused: 422 \`validation_failed\` in a body or header, 400 \`invalid_query\` in a query string, 400 \`invalid_id\` in a path, each naming the field in \`errors[]\` (refused characters shown as \`\\uXXXX\`). Dates and timestamps lie between the years 1900 and 9999. Cursors are at most 512 characters and must be one this list made; anything else is 400 \`invalid_query\`. No input gives a 500, and nothing is stored in a form a read model cannot hold.

**Versions.** Single resources carry \`ETag: "<version>"\`. \`PATCH\`, \`PUT\` and \`DELETE\` accept \`If-Match: "<version>"\`; a stale one is 412 \`version_mismatch\` and changes nothing.

**Idempotency.** \`POST\` commands accept \`Idempotency-Key\` (≤ 128 characters, per user and route, kept 24 h): a repeat with the same body returns the first answer and runs nothing; the same key with a different body is 422 \`idempotency_key_reused\`. No secret is ever kept: the repeat of a request whose answer held one (a new API key) is 409 \`idempotency_answer_withheld\`; login, refresh, register and logout ignore the header (tokens never come from storage).

**Change reasons.** Every state change accepts \`X-Change-Reason\` (≤ 500 characters) or a body field \`reason\`; it is stored in the event metadata and shown in history.

**Lists.** \`?limit=\` (1–100, default 20) and an opaque \`?cursor=\` (the previous page's \`nextCursor\`); the answer is \`{ items, nextCursor, total }\`, \`nextCursor\` null on the last page.

**Rate limits.** 429 \`rate_limited\` (and \`quota_exceeded\`) with \`Retry-After\` (seconds) and \`X-RateLimit-Limit\`, \`X-RateLimit-Remaining\`, \`X-RateLimit-Reset\` (epoch seconds). Admitted requests carry \`RateLimit: "user";r=<requests left>;t=<seconds to the reset>\` (IETF draft-ietf-httpapi-ratelimit-headers).

**Read-your-writes.** Once a command answered 2xx, the same user's queries already show its effect —
unless the answer carries \`Vialog-Read-Your-Writes: stale\`: the command succeeded and its events are
recorded, but a read model did not reach them in time (it is behind, failed, or rebuilding for a new version;
the command then answers at once instead of waiting). Re-read later, or poll the resource.`;

const withConventionHeaders = (
  response: ZodOpenApiResponseObject,
  commandSuccess: boolean,
): ZodOpenApiResponseObject => {
  const added = {
    'X-Request-Id': conventionHeaders.requestId,
    ...(commandSuccess ? { 'Vialog-Read-Your-Writes': conventionHeaders.readYourWrites.optional() } : {}),
  };
  const headers = response.headers;
  if (headers instanceof z.ZodObject) return { ...response, headers: headers.extend(added) };
  if (headers === undefined) return { ...response, headers: z.object(added) };
  return response;
};

export class OpenApiRegistry {
  readonly #paths: ZodOpenApiPathsObject = {};
  readonly #tags = new Map<string, string | undefined>();
  #cached: ReturnType<typeof createDocument> | undefined;

  /** Describes a tag (/docs groups operations by their tags). */
  tag(name: string, description?: string): this {
    this.#tags.set(name, description);
    this.#cached = undefined;
    return this;
  }

  /**
   * Registers one operation. `path` is in OpenAPI form, e.g. /api/v1/samples/{id}. The common
   * problem responses (400, 429, 500; 413/415 with a body; 401 when secured) are added unless given.
   */
  add(method: Method, path: string, operation: ZodOpenApiOperationObject, options: RegisterOptions = {}): void {
    const item = (this.#paths[path] ??= {});
    if (item[method]) throw new Error(`OpenAPI operation ${method.toUpperCase()} ${path} registered twice`);
    const defaults: ZodOpenApiResponsesObject = {
      '400': problemResponse('Malformed request: `malformed_json`, `invalid_query`, `invalid_id`'),
      '429': problemResponse('Too many requests (`rate_limited`), see Retry-After'),
      '500': problemResponse('Unexpected error (`internal_error`; the detail never includes internals)'),
    };
    if (operation.requestBody) {
      defaults['413'] = problemResponse('Body larger than the limit (`payload_too_large`)');
      defaults['415'] = problemResponse('Body is not application/json (`unsupported_media_type`)');
      defaults['422'] = problemResponse('The body breaks a rule (`validation_failed`, with errors[])');
    }
    if (operation.security === undefined || operation.security.length > 0)
      defaults['401'] = problemResponse('Missing, invalid or expired credentials (`unauthenticated`)');
    const responses: ZodOpenApiResponsesObject = { ...defaults, ...operation.responses };
    for (const [status, response] of Object.entries(responses)) {
      if (/^[1-5]/.test(status) && response && typeof response === 'object' && !('$ref' in response)) {
        const commandSuccess = method !== 'get' && status.startsWith('2');
        responses[status as `${1 | 2 | 3 | 4 | 5}${string}`] = withConventionHeaders(
          response as ZodOpenApiResponseObject,
          commandSuccess,
        );
      }
    }
    const conventionParams = (options.headers ?? []).map((name) => conventionHeaders[name]);
    item[method] = {
      ...operation,
      parameters: [...(operation.parameters ?? []), ...conventionParams],
      responses,
    };
    for (const tag of operation.tags ?? []) if (!this.#tags.has(tag)) this.#tags.set(tag, undefined);
    this.#cached = undefined;
  }

  document(info: { title: string; version: string }): ReturnType<typeof createDocument> {
    return (this.#cached ??= createDocument({
      openapi: '3.1.0',
      info: { ...info, description: DESCRIPTION },
      servers: [{ url: '/' }],
      tags: [...this.#tags].map(([name, description]) => (description ? { name, description } : { name })),
      security: [{ bearer: [] }, { apiKey: [] }],
      components: {
        schemas: { Problem: problemSchema },
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      paths: this.#paths,
    }));
  }
}

export function openApiRouter(registry: OpenApiRegistry, info: { title: string; version: string }): Router {
  const router = new Router();
  router.get('/api/v1/openapi.json', (ctx) => {
    ctx.body = registry.document(info);
  });
  addDocsPage(router, info);
  return router;
}
