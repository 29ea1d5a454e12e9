// Idempotency-Key over real HTTP against real PostgreSQL: a repeat returns the first answer and
// runs nothing, another body is 422, concurrent repeats run once, failures are not kept, keys are
// per user and per path, expired keys are purged, an abandoned claim lapses.
import test from 'ava';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import { idempotencyMiddleware, purgeExpiredIdempotencyKeys } from '../../platform/http/idempotency.ts';
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
  const repeat = await fetch(`${app.url}/api/v1/items`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"count":1,"name":"once"}' });
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
  await expectProblem(t, await postJson(app, '/api/v1/items', { name: 'other', count: 2 }, headers), 422, 'idempotency_key_reused');
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
  const answers = await Promise.all(Array.from({ length: 6 }, () => postJson(app, '/api/v1/slow', {}, user('user-d', 'slow-1'))));
  t.is(app.calls.slow, before + 1, 'executed once');
  const bodies = (await Promise.all(answers.map((r) => r.json()))) as { n: number }[];
  t.deepEqual(answers.map((r) => r.status), Array(6).fill(201));
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
  await expectProblem(t, await postJson(app, '/api/v1/items', { name: 'x', count: 1 }, user('user-a', 'k'.repeat(129))), 400, 'invalid_idempotency_key');
});

test.serial('stored rows hold the scope, body hash, answer and expiry; expired rows are purged and the key is free again', async (t) => {
  const headers = user('user-h', 'ttl-1');
  t.is((await postJson(app, '/api/v1/items', { name: 'ttl', count: 1 }, headers)).status, 201);
  const row = await knex('idempotency_keys').where({ owner_id: 'user-h' }).first<{ key: string; request_hash: string; state: string; response_status: number; response_body: unknown; created_at: Date; expires_at: Date }>();
  t.truthy(row);
  t.is(row.key, 'POST /api/v1/items ttl-1');
  t.regex(row.request_hash, /^[0-9a-f]{64}$/);
  t.is(row.state, 'completed');
  t.is(row.response_status, 201);
  t.like(row.response_body, { name: 'ttl' });
  const hours = (row.expires_at.getTime() - row.created_at.getTime()) / 3_600_000;
  t.true(Math.abs(hours - 24) < 0.01);

  await knex('idempotency_keys').where({ owner_id: 'user-h' }).update({ expires_at: knex.raw("now() - interval '1 second'") });
  const calls = app.calls.items;
  t.is((await postJson(app, '/api/v1/items', { name: 'ttl', count: 1 }, headers)).status, 201);
  t.is(app.calls.items, calls + 1, 'an expired key runs the command again');

  await knex('idempotency_keys').where({ owner_id: 'user-h' }).update({ expires_at: knex.raw("now() - interval '1 second'") });
  t.true((await purgeExpiredIdempotencyKeys(knex)) >= 1);
  t.is((await knex('idempotency_keys').where({ owner_id: 'user-h' })).length, 0);
});

test.serial('a claim abandoned by a crashed process lapses after the lease', async (t) => {
  await knex('idempotency_keys').insert({ owner_id: 'user-i', key: 'POST /api/v1/items crash-1', request_hash: 'x'.repeat(64), state: 'in_progress', created_at: knex.raw("now() - interval '10 seconds'"), expires_at: knex.raw("now() + interval '1 day'") });
  const calls = app.calls.items;
  const response = await postJson(app, '/api/v1/items', { name: 'after-crash', count: 1 }, user('user-i', 'crash-1'));
  t.is(response.status, 201);
  t.is(app.calls.items, calls + 1);
});
