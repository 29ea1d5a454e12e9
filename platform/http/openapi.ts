// The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with.
// Routers register their operations here; /api/v1/openapi.json serves the document and /docs a
// self-contained page of it (no CDN: the page must work on a closed network).
import Router from '@koa/router';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';

export const problemSchema = z
  .object({
    type: z.string().meta({ example: '/problems/validation_failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().meta({ example: 'validation_failed' }),
    requestId: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
});

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export class OpenApiRegistry {
  readonly #paths: ZodOpenApiPathsObject = {};

  /** `path` in OpenAPI form, e.g. /api/v1/samples/{id}. */
  add(method: Method, path: string, operation: ZodOpenApiOperationObject): void {
    const item = (this.#paths[path] ??= {});
    if (item[method]) throw new Error(`OpenAPI operation ${method.toUpperCase()} ${path} registered twice`);
    item[method] = {
      ...operation,
      responses: {
        ...operation.responses,
        '400': operation.responses?.['400'] ?? problemResponse('Malformed request'),
        '500': problemResponse('Unexpected error (the detail never includes internals)'),
      },
    };
  }

  document(info: { title: string; version: string }): ReturnType<typeof createDocument> {
    return createDocument({
      openapi: '3.1.0',
      info: {
        ...info,
        description: [
          'Event-sourced clinical sample tracking.',
          '',
          'Conventions: every response carries `X-Request-Id` (a valid incoming one is kept); a W3C `traceparent` is honoured.',
          'Errors are RFC 9457 problem details (`application/problem+json`). Single resources carry `ETag: "<version>"`;',
          '`PATCH`/`PUT`/`DELETE` accept `If-Match` (412 `version_mismatch` when stale). `POST` commands accept',
          '`Idempotency-Key` (≤ 128 chars, kept 24 h per user). State changes accept `X-Change-Reason` (≤ 500 chars) or a',
          'body field `reason`. Lists take `limit` (1–100, default 20) and an opaque `cursor`, and answer',
          '`{ items, nextCursor, total }`. Bodies are JSON only, at most 64 KiB by default (413 above, 415 for other types).',
        ].join('\n'),
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      paths: this.#paths,
    });
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface DocOperation {
  summary?: string;
  description?: string;
  tags?: string[];
  requestBody?: unknown;
  parameters?: unknown;
  responses?: Record<string, unknown>;
}

function docsPage(document: { info: { title: string; version: string; description?: string }; paths?: Record<string, Record<string, DocOperation>> }): string {
  const sections = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const responses = Object.keys(op.responses ?? {}).join(', ');
      const details = JSON.stringify({ parameters: op.parameters, requestBody: op.requestBody, responses: op.responses }, null, 2);
      return `<section><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>
<p>${escapeHtml(op.summary ?? '')}</p>${op.description ? `<p>${escapeHtml(op.description)}</p>` : ''}<p>Responses: ${escapeHtml(responses)}</p>
<details><summary>Schemas</summary><pre>${escapeHtml(details)}</pre></details></section>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)} API</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:1px solid #ddd;padding:.5rem 0}.m{font-family:monospace;padding:.1rem .4rem;border-radius:.2rem;color:#fff;background:#555}
.get{background:#2b7}.post{background:#27b}.put,.patch{background:#b72}.delete{background:#b33}pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.8rem}</style></head>
<body><h1>${escapeHtml(document.info.title)} <small>v${escapeHtml(document.info.version)}</small></h1>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>
<pre>${escapeHtml(document.info.description ?? '')}</pre>${sections.join('\n')}</body></html>`;
}

export function openApiRouter(registry: OpenApiRegistry, info: { title: string; version: string }): Router {
  const router = new Router();
  let cached: ReturnType<typeof createDocument> | undefined;
  const document = () => (cached ??= registry.document(info));
  router.get('/api/v1/openapi.json', (ctx) => {
    ctx.body = document();
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = docsPage(document() as Parameters<typeof docsPage>[0]);
  });
  return router;
}
