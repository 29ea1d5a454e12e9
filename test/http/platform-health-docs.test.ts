// Health (live, ready with per-check detail and timeouts, 503 not_ready) and the OpenAPI 3.1
// document and /docs page, over real HTTP.
import test from 'ava';
import { Degraded } from '../../platform/http/health.ts';
import { captureLogs, expectProblem, startTestApp, type TestApp } from './platform-fixture.ts';

let app: TestApp;
let failing = false;
let degraded = false;

test.before(async () => {
  app = await startTestApp(
    {
      readinessChecks: [
        { name: 'database', check: () => Promise.resolve() },
        { name: 'projections', check: () => (failing ? Promise.reject(new Error('projection samples lags 120 s')) : Promise.resolve({ lagSeconds: 0 })) },
        { name: 'slow', timeoutMs: 150, check: () => new Promise((resolve) => setTimeout(resolve, failing ? 5_000 : 0)) },
        { name: 'readModels', check: () => Promise.resolve(degraded ? new Degraded('failed: samples at 7/1 (SampleRegistered)', { failed: ['samples'] }) : { failed: [] }) },
      ],
    },
    captureLogs(),
  );
});

test.after.always(async () => {
  await app?.close();
});

test('GET /health/live is 200 {status: ok}', async (t) => {
  const response = await fetch(`${app.url}/health/live`);
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { status: 'ok' });
});

test.serial('GET /health/ready is 200 with every check when all pass', async (t) => {
  const response = await fetch(`${app.url}/health/ready`);
  t.is(response.status, 200);
  t.like(await response.json(), { status: 'ok', checks: { database: { status: 'ok' }, projections: { status: 'ok', lagSeconds: 0 }, slow: { status: 'ok' } } });
});

test.serial('GET /health/ready is a 503 not_ready problem with per-check detail when a check fails or times out', async (t) => {
  failing = true;
  try {
    const started = Date.now();
    const body = await expectProblem(t, await fetch(`${app.url}/health/ready`), 503, 'not_ready');
    t.true(Date.now() - started < 2_000, 'the slow check was cut off by its timeout');
    t.like(body, {
      checks: {
        database: { status: 'ok' },
        projections: { status: 'failed', error: 'projection samples lags 120 s' },
        slow: { status: 'failed', error: 'no answer within 150 ms' },
      },
    });
    t.regex(body.detail, /projections/);
  } finally {
    failing = false;
  }
});

test.serial('GET /health/ready stays 200 when a check is only degraded, and says so in the check and at the top', async (t) => {
  degraded = true;
  try {
    const response = await fetch(`${app.url}/health/ready`);
    t.is(response.status, 200);
    t.like(await response.json(), {
      status: 'degraded',
      checks: { database: { status: 'ok' }, readModels: { status: 'degraded', reason: 'failed: samples at 7/1 (SampleRegistered)', failed: ['samples'] } },
    });
  } finally {
    degraded = false;
  }
});

interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, { summary?: string; parameters?: { $ref?: string; name?: string }[]; responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }> }>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }>; parameters?: Record<string, { name: string; in: string }>; securitySchemes: Record<string, unknown> };
}

test('GET /api/v1/openapi.json is an OpenAPI 3.1 document with the registered routes and the conventions', async (t) => {
  const response = await fetch(`${app.url}/api/v1/openapi.json`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /application\/json/);
  const doc = (await response.json()) as OpenApiDoc;
  t.is(doc.openapi, '3.1.0');
  t.truthy(doc.info.title && doc.info.version);
  const post = doc.paths['/api/v1/items']?.post;
  t.is(post?.summary, 'Create an item');
  t.truthy(doc.paths['/api/v1/items']?.get);
  // Problem schema and problem responses
  t.deepEqual(Object.keys(doc.components.schemas.Problem!.properties!).sort(), ['code', 'detail', 'errors', 'requestId', 'status', 'title', 'type']);
  for (const status of ['400', '401', '413', '415', '422', '429', '500']) t.truthy(post!.responses[status]?.content?.['application/problem+json'], `problem response ${status}`);
  t.truthy(post!.responses['201']?.headers?.['X-Request-Id'], 'X-Request-Id is documented on answers');
  // Convention headers as shared parameters
  const refs = (post!.parameters ?? []).map((p) => p.$ref ?? p.name);
  t.true(refs.some((r) => /IdempotencyKey/.test(String(r))));
  t.true(refs.some((r) => /XChangeReason/.test(String(r))));
  t.is(doc.components.parameters?.IdempotencyKey?.name, 'Idempotency-Key');
  t.truthy(doc.components.securitySchemes.bearer);
  for (const word of ['X-Request-Id', 'If-Match', 'Idempotency-Key', 'X-Change-Reason', 'cursor', 'application/problem+json', 'U+0000', 'lone UTF-16 surrogates', '1900 and 9999']) t.true(doc.info.description.includes(word), word);
});

test('GET /docs is a self-contained HTML page of the document', async (t) => {
  const response = await fetch(`${app.url}/docs`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/html/);
  const html = await response.text();
  t.regex(html, /<h2 id="tag-items">items<\/h2>/);
  t.regex(html, /Create an item/);
  t.regex(html, /\/api\/v1\/items/);
  t.regex(html, /Idempotency-Key/);
  t.regex(html, /Problem/);
  t.notRegex(html, /<script|https?:\/\/(?!127\.0\.0\.1)/, 'loads nothing from elsewhere');
});
