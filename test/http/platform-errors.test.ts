// The HTTP platform over real HTTP: request ids and traceparent, problem+json for every failure
// class (400/404/405/413/415/422/500), body limits (also a body that never ends), validation,
// If-Match, change reasons, cursors, and logs (one access line per request, secrets redacted).
import test from 'ava';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import helmet from 'koa-helmet';
import {
  API_HELMET_OPTIONS,
  documentSecurityHeaderNames,
  securityHeaderNames,
} from '../../platform/http/security-headers.ts';
import { expectProblem, ITEM_VERSION, postJson, startTestApp, type TestApp } from './platform-fixture.ts';

let app: TestApp;

test.before(async () => {
  app = await startTestApp();
});

test.after.always(async () => {
  await app?.close();
});

const ID = '2b0c0e3a-9a43-4d5e-8d35-1f0e9a7c1a11';

test('a valid incoming X-Request-Id is kept and echoed, on success and on error', async (t) => {
  const ok = await fetch(`${app.url}/api/v1/whoami`, {
    headers: { 'x-request-id': 'client-req.42:a_b-c', 'x-test-user': 'u1' },
  });
  t.is(ok.status, 200);
  t.is(ok.headers.get('x-request-id'), 'client-req.42:a_b-c');
  t.like(await ok.json(), { requestId: 'client-req.42:a_b-c' });
  const failed = await fetch(`${app.url}/nowhere`, { headers: { 'x-request-id': 'err-1' } });
  t.is(failed.headers.get('x-request-id'), 'err-1');
  t.is(((await failed.json()) as { requestId: string }).requestId, 'err-1');
});

test('an invalid or missing X-Request-Id is replaced by a generated UUID', async (t) => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  for (const header of ['bad id with spaces <script>', 'x'.repeat(129), undefined]) {
    const response = await fetch(`${app.url}/health/live`, {
      headers: header === undefined ? {} : { 'x-request-id': header },
    });
    t.regex(response.headers.get('x-request-id') ?? '', uuid);
  }
  const a = await fetch(`${app.url}/health/live`);
  const b = await fetch(`${app.url}/health/live`);
  t.not(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
});

test('a valid traceparent is kept on ctx.state, an invalid one ignored', async (t) => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const kept = (await (
    await fetch(`${app.url}/api/v1/whoami`, { headers: { traceparent: valid, 'x-test-user': 'u1' } })
  ).json()) as { traceparent: string | null };
  t.is(kept.traceparent, valid);
  for (const bad of [
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'garbage',
  ]) {
    const ignored = (await (
      await fetch(`${app.url}/api/v1/whoami`, { headers: { traceparent: bad, 'x-test-user': 'u1' } })
    ).json()) as { traceparent: string | null };
    t.is(ignored.traceparent, null, bad);
  }
});

test('unknown route is 404 not_found; a wrong method is 405 method_not_allowed with Allow', async (t) => {
  await expectProblem(t, await fetch(`${app.url}/api/v1/nothing-here`), 404, 'not_found');
  await expectProblem(t, await fetch(`${app.url}/`), 404, 'not_found');
  const wrong = await fetch(`${app.url}/api/v1/items`, { method: 'DELETE' });
  t.regex(wrong.headers.get('allow') ?? '', /GET/);
  t.regex(wrong.headers.get('allow') ?? '', /POST/);
  await expectProblem(t, wrong, 405, 'method_not_allowed');
});

test('401 from requireAuth is a problem', async (t) => {
  await expectProblem(t, await fetch(`${app.url}/api/v1/whoami`), 401, 'unauthenticated');
});

test('malformed JSON is 400 malformed_json', async (t) => {
  await expectProblem(t, await postJson(app, '/api/v1/items', '{"name": "x",'), 400, 'malformed_json');
  await expectProblem(t, await postJson(app, '/api/v1/items', '"just a string"'), 400, 'malformed_json');
});

test('a body that is not application/json is 415 unsupported_media_type', async (t) => {
  for (const [method, type] of [
    ['POST', 'text/plain'],
    ['PUT', 'application/x-www-form-urlencoded'],
    ['PATCH', 'application/xml'],
  ] as const) {
    const response = await fetch(`${app.url}/api/v1/items/${ID}`, {
      method,
      headers: { 'content-type': type },
      body: 'a=1',
    });
    await expectProblem(t, response, 415, 'unsupported_media_type');
  }
  const noType = await fetch(`${app.url}/api/v1/items`, { method: 'POST', body: new Blob(['{"name":"x","count":1}']) });
  await expectProblem(t, noType, 415, 'unsupported_media_type');
  const withCharset = await fetch(`${app.url}/api/v1/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: '{"name":"x","count":1}',
  });
  t.is(withCharset.status, 201);
});

test('a body over BODY_LIMIT_BYTES is 413 payload_too_large', async (t) => {
  await expectProblem(
    t,
    await postJson(app, '/api/v1/items', { name: 'x'.repeat(5000), count: 1 }),
    413,
    'payload_too_large',
  );
});

test('a chunked body that never ends is refused at the limit (never buffered whole)', async (t) => {
  const { port } = new URL(app.url);
  const result = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/items',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      },
      (response) => {
        answered = true;
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => {
          request.destroy();
          resolve({ status: response.statusCode ?? 0, body, sent });
        });
      },
    );
    request.on('error', (error) => (answered ? undefined : reject(error)));
    const chunk = Buffer.from(`[${'1,'.repeat(8 * 1024)}`); // ~16 KiB of an endless JSON array
    const pump = () => {
      // Stop after 64 MiB: if the server had not answered by then, it is buffering everything.
      while (!answered && sent < 64 * 1024 * 1024) {
        sent += chunk.length;
        if (!request.write(chunk)) return void request.once('drain', pump);
      }
      if (!answered) request.end(']');
    };
    pump();
  });
  t.is(result.status, 413);
  t.is((JSON.parse(result.body) as { code: string }).code, 'payload_too_large');
  t.true(result.sent < 64 * 1024 * 1024, `answered while the client was still sending (${result.sent} bytes sent)`);
});

test('a declared Content-Length over the limit is refused before reading', async (t) => {
  const { port } = new URL(app.url);
  const status = await new Promise<number>((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/items',
        headers: { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) },
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      },
    );
    request.on('error', reject);
    request.write('{"name":'); // and never the rest
  });
  t.is(status, 413);
});

test('validation failures are 422 validation_failed listing every broken rule, unknown fields included', async (t) => {
  const body = await expectProblem(
    t,
    await postJson(app, '/api/v1/items', { name: '', count: -1, tags: ['ok', 'toolong'], owner: 'me', extra: 1 }),
    422,
    'validation_failed',
  );
  t.deepEqual(body.errors!.map((e) => e.path).sort(), ['count', 'extra', 'name', 'owner', 'tags.1']);
  t.true(body.errors!.every((e) => typeof e.message === 'string' && e.message.length > 0));
});

test('unknown or bad query parameters are 400 invalid_query; a bad id is 400 invalid_id', async (t) => {
  const bad = await expectProblem(t, await fetch(`${app.url}/api/v1/items?status=zzz`), 400, 'invalid_query');
  t.is(bad.errors![0]!.path, 'status');
  const unknown = await expectProblem(t, await fetch(`${app.url}/api/v1/items?unknown=1`), 400, 'invalid_query');
  t.is(unknown.errors![0]!.path, 'unknown');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items?limit=101`), 400, 'invalid_query');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items?limit=0`), 400, 'invalid_query');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items/not-a-uuid`), 400, 'invalid_id');
});

test('pagination: default 20, cursor walks the keyset, a forged cursor is 400', async (t) => {
  type Page = { items: { n: number }[]; nextCursor: string | null; total: number };
  const first = (await (await fetch(`${app.url}/api/v1/items`)).json()) as Page;
  t.is(first.items.length, 20);
  t.is(first.total, 45);
  t.truthy(first.nextCursor);
  const seen = [...first.items];
  let cursor = first.nextCursor;
  while (cursor) {
    const page = (await (await fetch(`${app.url}/api/v1/items?limit=20&cursor=${cursor}`)).json()) as Page;
    seen.push(...page.items);
    cursor = page.nextCursor;
  }
  t.deepEqual(
    seen.map((i) => i.n),
    Array.from({ length: 45 }, (_, i) => i + 1),
  );
  await expectProblem(t, await fetch(`${app.url}/api/v1/items?cursor=not*base64`), 400, 'invalid_query');
  const forged = Buffer.from(JSON.stringify({ n: 'DROP TABLE' })).toString('base64url');
  await expectProblem(t, await fetch(`${app.url}/api/v1/items?cursor=${forged}`), 400, 'invalid_query');
});

test('an unexpected error is a 500 internal_error that hides the message and stack, logged with the request id', async (t) => {
  const response = await fetch(`${app.url}/api/v1/boom`, { headers: { 'x-request-id': 'boom-1' } });
  const body = await expectProblem(t, response, 500, 'internal_error');
  const text = JSON.stringify(body);
  t.notRegex(text, /SELECT|password|token|internal detail|\.ts:\d+|at /);
  const logged = app.logs.parsed().find((l) => l.requestId === 'boom-1' && l.msg === 'unhandled error');
  t.truthy(logged, 'the error is logged server-side with the request id');
  t.regex(JSON.stringify(logged), /internal detail/);
});

test('problems thrown by routes keep their status, code and headers', async (t) => {
  await expectProblem(t, await fetch(`${app.url}/api/v1/conflict`), 409, 'username_taken');
});

test('ETag and If-Match: matching or absent passes, stale is 412 version_mismatch, malformed is 400', async (t) => {
  const get = await fetch(`${app.url}/api/v1/items/${ID}`);
  t.is(get.headers.get('etag'), `"${ITEM_VERSION}"`);
  const patch = (ifMatch?: string) =>
    fetch(`${app.url}/api/v1/items/${ID}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
      body: '{}',
    });
  t.like(await (await patch(`"${ITEM_VERSION}"`)).json(), { ok: true, expected: ITEM_VERSION });
  t.like(await (await patch()).json(), { ok: true, expected: null });
  t.like(await (await patch('*')).json(), { ok: true, expected: null });
  const stale = await patch('"2"');
  t.is(stale.headers.get('etag'), `"${ITEM_VERSION}"`);
  await expectProblem(t, stale, 412, 'version_mismatch');
  for (const bad of ['three', '3', '"3", "4"', '"-1"'])
    await expectProblem(t, await patch(bad), 400, 'invalid_if_match');
});

test('change reason: header (URL-decoded) or body field, at most 500 characters', async (t) => {
  const fromHeader = await postJson(
    app,
    '/api/v1/items',
    { name: 'r', count: 1, reason: 'body reason' },
    { 'x-change-reason': 'Re-analysis%20requested%20%E2%80%93%20PI' },
  );
  t.like(await fromHeader.json(), { reason: 'Re-analysis requested – PI' });
  const fromBody = await postJson(app, '/api/v1/items', { name: 'r', count: 1, reason: '  body reason ' });
  t.like(await fromBody.json(), { reason: 'body reason' });
  const none = await postJson(app, '/api/v1/items', { name: 'r', count: 1 });
  t.like(await none.json(), { reason: null });
  const tooLong = await expectProblem(
    t,
    await postJson(app, '/api/v1/items', { name: 'r', count: 1 }, { 'x-change-reason': 'x'.repeat(501) }),
    422,
    'validation_failed',
  );
  t.is(tooLong.errors![0]!.path, 'X-Change-Reason');
  await expectProblem(
    t,
    await postJson(app, '/api/v1/items', { name: 'r', count: 1, reason: 'y'.repeat(501) }),
    422,
    'validation_failed',
  );
});

test("security headers: the API profile of koa-helmet on every answer and problem, helmet's document headers on /docs, exactly as koa-helmet sets them per request", async (t) => {
  // What koa-helmet itself puts on an answer, run live on a bare Koa app.
  const liveHelmet = async (options?: Parameters<typeof helmet>[0]): Promise<[string, string][]> => {
    const bare = new Koa();
    bare.use(helmet(options));
    bare.use((ctx) => (ctx.body = 'ok'));
    const server = bare.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const live = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await live.arrayBuffer();
      // Everything but Koa's and Node's own headers is helmet's.
      return [...live.headers].filter(
        ([name]) => !['content-type', 'content-length', 'date', 'connection', 'keep-alive'].includes(name),
      );
    } finally {
      server.close();
    }
  };
  const api = [...(await liveHelmet(API_HELMET_OPTIONS)), ['cache-control', 'no-store']].sort(([a], [b]) =>
    a!.localeCompare(b!),
  );
  t.deepEqual(
    api.map(([name]) => name),
    [...securityHeaderNames].sort(),
    'the precomputed set is exactly what helmet sets with the API options, plus no-store',
  );
  // The OWASP REST Security Cheat Sheet's headers for an API.
  t.like(Object.fromEntries(api), {
    'content-security-policy': "default-src 'none';frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
  });
  for (const path of ['/health/live', '/api/v1/nothing-here']) {
    const response = await fetch(`${app.url}${path}`);
    t.deepEqual(
      [...response.headers].filter(([name]) => securityHeaderNames.includes(name)),
      api,
      path,
    );
    t.false(
      documentSecurityHeaderNames.some((name) => response.headers.has(name)),
      `${path}: no document-only headers on JSON`,
    );
    await response.arrayBuffer();
  }
  // /docs is a document: helmet's defaults that the API profile leaves out, with the page's own CSP.
  const defaults = new Map(await liveHelmet());
  const documentOnly = [...defaults.keys()].filter((name) => !securityHeaderNames.includes(name)).sort();
  t.deepEqual([...documentSecurityHeaderNames].sort(), documentOnly);
  t.true(documentOnly.includes('cross-origin-opener-policy'));
  const docs = await fetch(`${app.url}/docs`);
  await docs.arrayBuffer();
  for (const name of documentOnly) t.is(docs.headers.get(name), defaults.get(name)!, `/docs ${name}`);
  t.is(docs.headers.get('x-frame-options'), 'DENY');
  t.regex(docs.headers.get('content-security-policy') ?? '', /^default-src 'none'; script-src 'self';/);
});

test('every request is logged once at completion with requestId, method, route, status, duration; credentials never', async (t) => {
  await fetch(`${app.url}/api/v1/items/${ID}`, {
    headers: {
      authorization: 'Bearer zzz.yyy.xxx',
      cookie: 'sid=s3cr3t',
      'x-api-key': 'vk_live_abc',
      'x-request-id': 'access-1',
    },
  });
  const lines = app.logs.parsed().filter((l) => l.requestId === 'access-1');
  t.is(lines.length, 1);
  t.like(lines[0], { msg: 'request completed', method: 'GET', route: '/api/v1/items/:id', status: 200 });
  t.is(typeof lines[0]!.durationMs, 'number');
  const text = app.logs.lines.join('\n');
  t.notRegex(text, /zzz\.yyy\.xxx|s3cr3t|vk_live_abc/);
});

test('the logger redacts credentials wherever a caller logs them', (t) => {
  const child = app.logs.logger.child({ requestId: 'redact-1' });
  child.info(
    {
      req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'x-api-key': 'key-123' } },
      headers: { authorization: 'Bearer hij.klm.nop' },
      body: { password: 'hunter2hunter2', refreshToken: 'rt-123', accessToken: 'at-456', newPassword: 'np-789' },
      password: 'top-level-pw',
    },
    'probe',
  );
  const line = app.logs.lines.find((l) => l.includes('redact-1'))!;
  t.truthy(line);
  t.notRegex(line, /abc\.def\.ghi|hij\.klm\.nop|key-123|hunter2|rt-123|at-456|np-789|top-level-pw|sid=1/);
  t.regex(line, /\[redacted\]/);
});
