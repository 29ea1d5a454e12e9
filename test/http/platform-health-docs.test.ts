// Health (live, ready with per-check detail and timeouts, 503 not_ready) and the OpenAPI 3.1
// document and the /docs page (Swagger UI, from files this service serves), over real HTTP. What the
// page does in a browser: test/browser/docs-page.test.ts.
import test from 'ava';
import { Degraded } from '../../platform/http/health.ts';
import { captureLogs } from '../support/logs.ts';
import { expectProblem, startTestApp, type TestApp } from './platform-fixture.ts';

let app: TestApp;
let failing = false;
let degraded = false;

test.before(async () => {
  app = await startTestApp(
    {
      readinessChecks: [
        { name: 'database', check: () => Promise.resolve() },
        {
          name: 'projections',
          check: () =>
            failing ? Promise.reject(new Error('projection samples lags 120 s')) : Promise.resolve({ lagSeconds: 0 }),
        },
        {
          name: 'slow',
          timeoutMs: 150,
          check: () => new Promise((resolve) => setTimeout(resolve, failing ? 5_000 : 0)),
        },
        {
          name: 'readModels',
          check: () =>
            Promise.resolve(
              degraded
                ? new Degraded('failed: samples at 7/1 (SampleRegistered)', { failed: ['samples'] })
                : { failed: [] },
            ),
        },
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
  t.like(await response.json(), {
    status: 'ok',
    checks: { database: { status: 'ok' }, projections: { status: 'ok', lagSeconds: 0 }, slow: { status: 'ok' } },
  });
});

test.serial(
  'GET /health/ready is a 503 not_ready problem with per-check detail when a check fails or times out',
  async (t) => {
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
  },
);

test.serial(
  'GET /health/ready stays 200 when a check is only degraded, and says so in the check and at the top',
  async (t) => {
    degraded = true;
    try {
      const response = await fetch(`${app.url}/health/ready`);
      t.is(response.status, 200);
      t.like(await response.json(), {
        status: 'degraded',
        checks: {
          database: { status: 'ok' },
          readModels: { status: 'degraded', reason: 'failed: samples at 7/1 (SampleRegistered)', failed: ['samples'] },
        },
      });
    } finally {
      degraded = false;
    }
  },
);

interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string; description: string };
  paths: Record<
    string,
    Record<
      string,
      {
        summary?: string;
        parameters?: { $ref?: string; name?: string }[];
        responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>;
      }
    >
  >;
  components: {
    schemas: Record<string, { properties?: Record<string, unknown> }>;
    parameters?: Record<string, { name: string; in: string }>;
    securitySchemes: Record<string, unknown>;
  };
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
  t.deepEqual(Object.keys(doc.components.schemas.Problem!.properties!).sort(), [
    'code',
    'detail',
    'errors',
    'requestId',
    'status',
    'title',
    'type',
  ]);
  for (const status of ['400', '401', '413', '415', '422', '429', '500'])
    t.truthy(post!.responses[status]?.content?.['application/problem+json'], `problem response ${status}`);
  t.truthy(post!.responses['201']?.headers?.['X-Request-Id'], 'X-Request-Id is documented on answers');
  // Convention headers as shared parameters
  const refs = (post!.parameters ?? []).map((p) => p.$ref ?? p.name);
  t.true(refs.some((r) => /IdempotencyKey/.test(String(r))));
  t.true(refs.some((r) => /XChangeReason/.test(String(r))));
  t.is(doc.components.parameters?.IdempotencyKey?.name, 'Idempotency-Key');
  t.truthy(doc.components.securitySchemes.bearer);
  for (const word of [
    'X-Request-Id',
    'If-Match',
    'Idempotency-Key',
    'X-Change-Reason',
    'cursor',
    'application/problem+json',
    'U+0000',
    'lone UTF-16 surrogates',
    '1900 and 9999',
  ])
    t.true(doc.info.description.includes(word), word);
});

/** The /docs page and the URLs of the files it loads. */
async function docsPage(): Promise<{ response: Response; html: string; assets: string[] }> {
  const response = await fetch(`${app.url}/docs`);
  const html = await response.text();
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
    .map((m) => m[1]!)
    .filter((url) => url !== '/api/v1/openapi.json');
  return { response, html, assets };
}

test('GET /docs is Swagger UI on the document, loading only files this service serves', async (t) => {
  const { response, html, assets } = await docsPage();
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(html, /<div id="swagger-ui"><\/div>/);
  t.regex(html, /\/api\/v1\/openapi\.json/, 'links the document for readers without JavaScript');
  t.notRegex(html, /<script>|<script(?![^>]*\ssrc=)|<style|\son\w+=/i, 'no inline script, style or handler');
  t.deepEqual(assets.map((url) => url.replace(/\.[0-9a-f]{12}\./, '.<hash>.')).sort(), [
    '/docs/assets/docs-init.<hash>.js',
    '/docs/assets/favicon-32x32.<hash>.png',
    '/docs/assets/swagger-ui-bundle.<hash>.js',
    '/docs/assets/swagger-ui.<hash>.css',
  ]);
});

test('GET /docs has a CSP that allows scripts, styles and requests from its own origin only', async (t) => {
  const { response } = await docsPage();
  const directives = (response.headers.get('content-security-policy') ?? '').split(/;\s*/);
  const csp = new Map(directives.map((d) => [d.split(' ')[0]!, d.split(' ').slice(1).join(' ')]));
  t.is(csp.get('default-src'), "'none'");
  t.is(csp.get('script-src'), "'self'");
  t.is(csp.get('style-src'), "'self'");
  t.is(csp.get('connect-src'), "'self'");
  t.is(csp.get('frame-ancestors'), "'none'");
});

test('GET /docs/assets/<file>: the right content type, cached for good (its name has a content hash)', async (t) => {
  const { assets } = await docsPage();
  const types: Record<string, RegExp> = {
    '.js': /^text\/javascript; charset=utf-8$/,
    '.css': /^text\/css; charset=utf-8$/,
    '.png': /^image\/png$/,
  };
  for (const url of assets) {
    const response = await fetch(`${app.url}${url}`);
    const body = Buffer.from(await response.arrayBuffer());
    t.is(response.status, 200, url);
    t.regex(response.headers.get('content-type') ?? '', types[url.slice(url.lastIndexOf('.'))]!, url);
    t.is(response.headers.get('cache-control'), 'public, max-age=31536000, immutable', url);
    t.is(response.headers.get('x-content-type-options'), 'nosniff', url);
    t.true(body.length > 0, url);
  }
  const init = await (await fetch(`${app.url}${assets.find((url) => url.includes('docs-init'))!}`)).text();
  t.regex(init, /SwaggerUIBundle\(\{\s*url: "\/api\/v1\/openapi\.json"/);
});

test('GET /docs/assets/<file> is gzipped for a client that accepts it', async (t) => {
  const { assets } = await docsPage();
  const bundle = assets.find((url) => url.includes('swagger-ui-bundle'))!;
  const plain = await fetch(`${app.url}${bundle}`, { headers: { 'accept-encoding': 'identity' } });
  const plainBytes = (await plain.arrayBuffer()).byteLength;
  t.is(plain.headers.get('content-encoding'), null);
  const gzipped = await fetch(`${app.url}${bundle}`, { headers: { 'accept-encoding': 'gzip' } });
  t.is(gzipped.headers.get('content-encoding'), 'gzip');
  t.regex(gzipped.headers.get('vary') ?? '', /accept-encoding/i);
  t.true(Number(gzipped.headers.get('content-length')) < plainBytes / 2);
  t.is((await gzipped.arrayBuffer()).byteLength, plainBytes, 'fetch decodes it to the same file');
});

test('GET /docs/assets/<anything else> is a 404 not_found problem', async (t) => {
  const { assets } = await docsPage();
  const bundle = assets.find((url) => url.includes('swagger-ui-bundle'))!;
  const others = [
    '/docs/assets/swagger-ui-bundle.js',
    '/docs/assets/swagger-ui-bundle.js.map',
    '/docs/assets/index.html',
    '/docs/assets/..%2Fpackage.json',
    bundle.toUpperCase(),
    '/docs/assets/',
  ];
  for (const path of others) {
    await expectProblem(t, await fetch(`${app.url}${path}`), 404, 'not_found');
  }
});
