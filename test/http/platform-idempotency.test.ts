// Idempotency-Key over real HTTP against real PostgreSQL: a repeat returns the first answer and
// runs nothing, another body is 422, concurrent repeats run once, failures are not kept, keys are
// per user and per route (whatever the path's spelling), expired keys are purged, an abandoned
// claim lapses; answers with secrets are never kept; deep bodies do not overflow the stack.
import test from 'ava';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import {
  answerHoldsSecret,
  canonicalJson,
  idempotencyMiddleware,
  ignoresIdempotencyKey,
  purgeExpiredIdempotencyKeys,
  purgeIdempotencyKeysOf,
} from '../../platform/http/idempotency.ts';
import { createRouter, type AppContext } from '../../platform/http/state.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { expectProblem, postJson, startTestApp, type TestApp } from './platform-fixture.ts';

let db: TestDatabase;
let knex: Knex;
let app: TestApp;

test.before(async () => {
  db = await createTestDatabase();
  knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  app = await startTestApp({ middleware: [idempotencyMiddleware(knex, 24, { waitMs: 3_000, leaseSeconds: 2 })] });
});

test.after.always(async () => {
  await app?.close();
  await knex?.destroy();
  await db?.drop();
});

const user = (id: string, key: string) => ({ 'x-test-user': id, 'idempotency-key': key });

test.serial('a repeat with the same key and body returns the first answer and runs nothing', async (t) => {
  const headers = user('user-a', 'create-1');
  const first = await postJson(app, '/api/v1/items', { name: 'once', count: 1 }, headers);
  t.is(first.status, 201);
  const firstBody = await first.json();
  const calls = app.calls.items;
  // Same body with another key order: the same request.
  const repeat = await fetch(`${app.url}/api/v1/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{"count":1,"name":"once"}',
  });
  t.is(repeat.status, 201);
  t.deepEqual(await repeat.json(), firstBody);
  t.is(repeat.headers.get('location'), first.headers.get('location'));
  t.is(repeat.headers.get('idempotent-replayed'), 'true');
  t.not(repeat.headers.get('x-request-id'), first.headers.get('x-request-id'), 'the repeat is its own request');
  t.is(app.calls.items, calls, 'the handler did not run again');
});

test.serial('the same key with a different body is 422 idempotency_key_reused', async (t) => {
  const headers = user('user-a', 'create-2');
  t.is((await postJson(app, '/api/v1/items', { name: 'first', count: 1 }, headers)).status, 201);
  const calls = app.calls.items;
  await expectProblem(
    t,
    await postJson(app, '/api/v1/items', { name: 'other', count: 2 }, headers),
    422,
    'idempotency_key_reused',
  );
  t.is(app.calls.items, calls);
});

test.serial('keys are scoped per user and per method+path', async (t) => {
  const calls = app.calls.items;
  t.is((await postJson(app, '/api/v1/items', { name: 'x', count: 1 }, user('user-b', 'shared'))).status, 201);
  t.is((await postJson(app, '/api/v1/items', { name: 'x', count: 1 }, user('user-c', 'shared'))).status, 201);
  t.is(app.calls.items, calls + 2);
  const slowBefore = app.calls.slow;
  t.is((await postJson(app, '/api/v1/slow', {}, user('user-b', 'shared'))).status, 201);
  t.is(app.calls.slow, slowBefore + 1);
});

test.serial('without a signed-in caller, or on another method, the header is ignored', async (t) => {
  const calls = app.calls.items;
  await postJson(app, '/api/v1/items', { name: 'anon', count: 1 }, { 'idempotency-key': 'anon-1' });
  await postJson(app, '/api/v1/items', { name: 'anon', count: 1 }, { 'idempotency-key': 'anon-1' });
  t.is(app.calls.items, calls + 2);
});

test.serial('concurrent requests with one key execute once; the others get the same answer', async (t) => {
  const before = app.calls.slow;
  const answers = await Promise.all(
    Array.from({ length: 6 }, () => postJson(app, '/api/v1/slow', {}, user('user-d', 'slow-1'))),
  );
  t.is(app.calls.slow, before + 1, 'executed once');
  const bodies = (await Promise.all(answers.map((r) => r.json()))) as { n: number }[];
  t.deepEqual(
    answers.map((r) => r.status),
    Array(6).fill(201),
  );
  t.true(bodies.every((b) => b.n === bodies[0]!.n));
  t.is(answers.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 5);
});

test.serial('a repeat that waits longer than waitMs gets 409 idempotency_request_in_progress', async (t) => {
  const quickApp = await startTestApp({ middleware: [idempotencyMiddleware(knex, 24, { waitMs: 100 })] });
  try {
    const headers = user('user-e', 'slow-2');
    const first = postJson(quickApp, '/api/v1/slow', {}, headers);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await postJson(quickApp, '/api/v1/slow', {}, headers);
    t.is(second.headers.get('retry-after'), '1');
    await expectProblem(t, second, 409, 'idempotency_request_in_progress');
    t.is((await first).status, 201);
    t.is(quickApp.calls.slow, 1);
  } finally {
    await quickApp.close();
  }
});

test.serial('only 2xx answers are kept: a failed attempt can be retried with the same key', async (t) => {
  const headers = user('user-f', 'flaky-1');
  await expectProblem(t, await postJson(app, '/api/v1/flaky', {}, headers), 503, 'upstream_failed');
  const retry = await postJson(app, '/api/v1/flaky', {}, headers);
  t.is(retry.status, 201);
  t.is(app.calls.flaky, 2);
  const replay = await postJson(app, '/api/v1/flaky', {}, headers);
  t.is(replay.status, 201);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.is(app.calls.flaky, 2);
});

test.serial('a 204 answer is replayed as a 204', async (t) => {
  const headers = user('user-g', 'nc-1');
  t.is((await postJson(app, '/api/v1/no-content', {}, headers)).status, 204);
  const replay = await postJson(app, '/api/v1/no-content', {}, headers);
  t.is(replay.status, 204);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
});

test.serial('a key longer than 128 characters is 400 invalid_idempotency_key', async (t) => {
  await expectProblem(
    t,
    await postJson(app, '/api/v1/items', { name: 'x', count: 1 }, user('user-a', 'k'.repeat(129))),
    400,
    'invalid_idempotency_key',
  );
});

test.serial(
  'stored rows hold the scope, body hash, answer and expiry; expired rows are purged and the key is free again',
  async (t) => {
    const headers = user('user-h', 'ttl-1');
    t.is((await postJson(app, '/api/v1/items', { name: 'ttl', count: 1 }, headers)).status, 201);
    const row = await knex('idempotency_keys').where({ owner_id: 'user-h' }).first<{
      key: string;
      request_hash: string;
      state: string;
      response_status: number;
      response_body: unknown;
      created_at: Date;
      expires_at: Date;
    }>();
    t.truthy(row);
    t.is(row.key, 'POST /api/v1/items ttl-1');
    t.regex(row.request_hash, /^[0-9a-f]{64}$/);
    t.is(row.state, 'completed');
    t.is(row.response_status, 201);
    t.like(row.response_body, { name: 'ttl' });
    const hours = (row.expires_at.getTime() - row.created_at.getTime()) / 3_600_000;
    t.true(Math.abs(hours - 24) < 0.01);

    await knex('idempotency_keys')
      .where({ owner_id: 'user-h' })
      .update({ expires_at: knex.raw("now() - interval '1 second'") });
    const calls = app.calls.items;
    t.is((await postJson(app, '/api/v1/items', { name: 'ttl', count: 1 }, headers)).status, 201);
    t.is(app.calls.items, calls + 1, 'an expired key runs the command again');

    await knex('idempotency_keys')
      .where({ owner_id: 'user-h' })
      .update({ expires_at: knex.raw("now() - interval '1 second'") });
    t.true((await purgeExpiredIdempotencyKeys(knex)) >= 1);
    t.is((await knex('idempotency_keys').where({ owner_id: 'user-h' })).length, 0);
  },
);

test.serial('a claim abandoned by a crashed process lapses after the lease', async (t) => {
  await knex('idempotency_keys').insert({
    owner_id: 'user-i',
    key: 'POST /api/v1/items crash-1',
    request_hash: 'x'.repeat(64),
    state: 'in_progress',
    created_at: knex.raw("now() - interval '10 seconds'"),
    expires_at: knex.raw("now() + interval '1 day'"),
  });
  const calls = app.calls.items;
  const response = await postJson(app, '/api/v1/items', { name: 'after-crash', count: 1 }, user('user-i', 'crash-1'));
  t.is(response.status, 201);
  t.is(app.calls.items, calls + 1);
});

// --- scope by route, secrets, deep bodies ---------------------------------------------------

test.serial(
  'the scope is the matched route: another spelling of the path (case, trailing slash) is the same key',
  async (t) => {
    const headers = user('user-j', 'spelling-1');
    const first = await postJson(app, '/api/v1/items', { name: 'spelt', count: 1 }, headers);
    t.is(first.status, 201);
    const calls = app.calls.items;
    for (const path of ['/API/V1/ITEMS', '/api/v1/items/', '/api/v1/Items/']) {
      const repeat = await postJson(app, path, { name: 'spelt', count: 1 }, headers);
      t.is(repeat.status, 201, path);
      t.is(repeat.headers.get('idempotent-replayed'), 'true', path);
    }
    t.is(app.calls.items, calls, 'the command ran once');
    const rows = await knex('idempotency_keys').where({ owner_id: 'user-j' });
    t.deepEqual(
      rows.map((r: { key: string }) => r.key),
      ['POST /api/v1/items spelling-1'],
    );
  },
);

/** Routes marked for idempotency: parameters, a secret answer, a route that ignores the key. */
function markedRouter() {
  const calls = { tagged: 0, secret: 0, session: 0 };
  const router = createRouter({ prefix: '/api/v1' });
  router.post('/things/:id/tag', (ctx) => {
    calls.tagged += 1;
    ctx.status = 201;
    ctx.body = { id: ctx.params.id, n: calls.tagged };
  });
  router.post(
    '/secrets',
    answerHoldsSecret((ctx: AppContext) => {
      calls.secret += 1;
      ctx.status = 201;
      ctx.body = { id: `s${calls.secret}`, key: `very-secret-${calls.secret}` };
    }),
  );
  router.post(
    '/sessions',
    ignoresIdempotencyKey((ctx: AppContext) => {
      calls.session += 1;
      ctx.body = { token: `token-${calls.session}` };
    }),
  );
  return { router, calls };
}

test.serial(
  'route parameters belong to the request: the same key on another id is 422 idempotency_key_reused',
  async (t) => {
    const { router, calls } = markedRouter();
    const marked = await startTestApp({ routers: [router], middleware: [idempotencyMiddleware(knex, 24)] });
    try {
      const headers = user('user-k', 'tag-1');
      const id = crypto.randomUUID();
      t.is((await postJson(marked, `/api/v1/things/${id}/tag`, {}, headers)).status, 201);
      const again = await postJson(marked, `/api/v1/things/${id}/tag`, {}, headers);
      t.is(again.headers.get('idempotent-replayed'), 'true');
      await expectProblem(
        t,
        await postJson(marked, `/api/v1/things/${crypto.randomUUID()}/tag`, {}, headers),
        422,
        'idempotency_key_reused',
      );
      t.is(calls.tagged, 1);
      const row = await knex('idempotency_keys').where({ owner_id: 'user-k' }).first<{ key: string }>();
      t.is(row.key, 'POST /api/v1/things/:id/tag tag-1');
    } finally {
      await marked.close();
    }
  },
);

test.serial(
  'an answer holding a secret is never kept: a repeat runs nothing and gets 409 idempotency_answer_withheld',
  async (t) => {
    const { router, calls } = markedRouter();
    const marked = await startTestApp({ routers: [router], middleware: [idempotencyMiddleware(knex, 24)] });
    try {
      const headers = user('user-l', 'secret-1');
      const first = await postJson(marked, '/api/v1/secrets', {}, headers);
      t.is(first.status, 201);
      t.is(((await first.json()) as { key: string }).key, 'very-secret-1');
      const stored = JSON.stringify(await knex('idempotency_keys').where({ owner_id: 'user-l' }));
      t.false(stored.includes('very-secret'), stored);
      await expectProblem(
        t,
        await postJson(marked, '/api/v1/secrets', {}, headers),
        409,
        'idempotency_answer_withheld',
      );
      t.is(calls.secret, 1, 'the repeat created nothing');
    } finally {
      await marked.close();
    }
  },
);

test.serial('a route that ignores the key (a login) runs every time and keeps nothing', async (t) => {
  const { router, calls } = markedRouter();
  const marked = await startTestApp({ routers: [router], middleware: [idempotencyMiddleware(knex, 24)] });
  try {
    const headers = user('user-m', 'session-1');
    const tokens = [];
    for (let i = 0; i < 2; i++)
      tokens.push(
        ((await (await postJson(marked, '/api/v1/sessions', {}, headers)).json()) as { token: string }).token,
      );
    t.deepEqual(tokens, ['token-1', 'token-2']);
    t.is(calls.session, 2);
    t.is((await knex('idempotency_keys').where({ owner_id: 'user-m' })).length, 0);
  } finally {
    await marked.close();
  }
});

test.serial('a deeply nested body with an Idempotency-Key is a 4xx, never a stack overflow', async (t) => {
  const deepApp = await startTestApp({ bodyLimitBytes: 256 * 1024, middleware: [idempotencyMiddleware(knex, 24)] });
  try {
    const depth = 100_000;
    const body = '['.repeat(depth) + ']'.repeat(depth);
    const response = await postJson(deepApp, '/api/v1/items', body, user('user-n', 'deep-1'));
    t.true(response.status >= 400 && response.status < 500, `status ${response.status}`);
    await response.arrayBuffer();
  } finally {
    await deepApp.close();
  }
});

test.serial("purgeIdempotencyKeysOf deletes one user's kept answers, nobody else's", async (t) => {
  t.is((await postJson(app, '/api/v1/items', { name: 'mine', count: 1 }, user('user-o', 'purge-1'))).status, 201);
  t.is((await postJson(app, '/api/v1/items', { name: 'theirs', count: 1 }, user('user-p', 'purge-1'))).status, 201);
  t.is(await purgeIdempotencyKeysOf(knex, 'user-o'), 1);
  t.is((await knex('idempotency_keys').where({ owner_id: 'user-o' })).length, 0);
  t.is((await knex('idempotency_keys').where({ owner_id: 'user-p' })).length, 1);
});

test('canonicalJson: key order does not matter, and 200,000 levels of nesting do not overflow the stack', (t) => {
  t.is(canonicalJson({ b: [1, { d: null, c: 'x' }], a: true, u: undefined }), '{"a":true,"b":[1,{"c":"x","d":null}]}');
  t.is(canonicalJson([undefined, [], {}]), '[null,[],{}]');
  let deep: unknown = 'leaf';
  for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { k: deep };
  const text = canonicalJson(deep);
  t.is(text.length, 'leaf'.length + 2 + 100_000 * 2 + 100_000 * '{"k":}'.length);
});
