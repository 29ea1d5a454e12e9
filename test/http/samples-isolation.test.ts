// Isolation: another user's sample is a 404 on every route, never visible in lists, filters or
// statistics; and row-level security catches a query that forgets its owner filter.
import test, { type ExecutionContext } from 'ava';
import { createKnex } from '../../platform/database/knex.ts';
import { queryAsOwner, queryInScope } from '../../platform/database/owner-scope.ts';
import { labScope } from '../../modules/samples/queries.ts';
import { call, newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let api: string;
let alice: TestUser;
let mallory: TestUser;
let aliceSample: string;
const aliceSubject = 'A777';

test.before(async () => {
  svc = await startTestService();
  api = svc.api;
  alice = await newUser(api, 'alice');
  mallory = await newUser(api, 'mallory');
  const created = await call(api, 'POST', '/samples', {
    token: alice.accessToken,
    body: { sampleType: 'blood', subjectId: aliceSubject, collectionDate: new Date().toISOString().slice(0, 10) },
  });
  aliceSample = created.body.id;
  await call(api, 'POST', '/samples', {
    token: mallory.accessToken,
    body: { sampleType: 'saliva', subjectId: 'M001', collectionDate: new Date().toISOString().slice(0, 10) },
  });
});
test.after.always(async () => {
  await svc?.stop();
});

const expectNotFound = async (
  t: ExecutionContext,
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => {
  const r = await call(api, method, path, {
    token: mallory.accessToken,
    ...(body !== undefined ? { body } : {}),
    ...(headers ? { headers } : {}),
  });
  t.is(r.status, 404, `${method} ${path}`);
  t.is(r.body.code, 'not_found');
  // Exactly what an unknown id gets: nothing reveals that the sample exists.
  const unknown = await call(api, method, path.replace(aliceSample, crypto.randomUUID()), {
    token: mallory.accessToken,
    ...(body !== undefined ? { body } : {}),
    ...(headers ? { headers } : {}),
  });
  t.deepEqual({ ...r.body, requestId: null }, { ...unknown.body, requestId: null });
};

test("GET another user's sample is 404", async (t) => expectNotFound(t, 'GET', `/samples/${aliceSample}`));
test("PATCH another user's sample is 404 and changes nothing", async (t) => {
  await expectNotFound(t, 'PATCH', `/samples/${aliceSample}`, { notes: 'pwned' });
  await expectNotFound(t, 'PATCH', `/samples/${aliceSample}`, { notes: 'pwned' }, { 'if-match': '"1"' });
  t.is((await call(api, 'GET', `/samples/${aliceSample}`, { token: alice.accessToken })).body.notes, null);
});
test("PUT another user's sample is 404", async (t) =>
  expectNotFound(t, 'PUT', `/samples/${aliceSample}`, {
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: new Date().toISOString().slice(0, 10),
    status: 'collected',
  }));
test("DELETE another user's sample is 404 and it survives", async (t) => {
  await expectNotFound(t, 'DELETE', `/samples/${aliceSample}`);
  t.is((await call(api, 'GET', `/samples/${aliceSample}`, { token: alice.accessToken })).status, 200);
});
test("history of another user's sample is 404", async (t) =>
  expectNotFound(t, 'GET', `/samples/${aliceSample}/history`));

test("subject lookup, list filters and stats show only the caller's samples", async (t) => {
  const bySubject = await call(api, 'GET', `/samples/subject/${aliceSubject}`, { token: mallory.accessToken });
  t.is(bySubject.status, 200);
  t.is(bySubject.body.total, 0);
  for (const q of [
    `subjectId=${aliceSubject}`,
    'sampleType=blood',
    'status=collected',
    `collectedFrom=2000-01-01`,
    '',
  ]) {
    const r = await call(api, 'GET', `/samples?${q}`, { token: mallory.accessToken });
    t.false(
      r.body.items.some((s: { id: string }) => s.id === aliceSample),
      q,
    );
    t.true(
      r.body.items.every((s: { subjectId: string }) => s.subjectId === 'M001'),
      q,
    );
  }
  const stats = await call(api, 'GET', '/samples/stats/overview', { token: mallory.accessToken });
  t.deepEqual(stats.body, {
    total: 1,
    byStatus: { collected: 1, processing: 0, archived: 0, consumed: 0, disposed: 0 },
    byType: { blood: 0, saliva: 1, tissue: 0, plasma: 0, serum: 0, buffy_coat: 0, dna: 0, rna: 0 },
    collectedLast30Days: 1,
  });
  const aliceStats = await call(api, 'GET', '/samples/stats/overview', { token: alice.accessToken });
  t.is(aliceStats.body.byType.blood, 1);
  t.is(aliceStats.body.byType.saliva, 0);
});

test('a cursor made for one user shows another user nothing of theirs', async (t) => {
  const cursor = Buffer.from(
    JSON.stringify({ collectionDate: '2999-01-01', id: 'ffffffff-ffff-4fff-bfff-ffffffffffff' }),
  ).toString('base64url');
  const r = await call(api, 'GET', `/samples?cursor=${cursor}`, { token: mallory.accessToken });
  t.is(r.status, 200);
  t.true(r.body.items.every((s: { subjectId: string }) => s.subjectId === 'M001'));
});

test("row-level security: a query with no lab filter at all sees only the caller's labs", async (t) => {
  const knex = createKnex({ url: svc.db.url, poolMax: 2, applicationName: 'rls-test' });
  try {
    const [, samples, stats, daily] = await queryInScope<
      [{ sample_id: string; lab_id: string }[], { lab_id: string }[], { lab_id: string }[]]
    >(knex, mallory.id, labScope(mallory.id), [
      { sql: 'SELECT sample_id, lab_id FROM samples' },
      { sql: 'SELECT lab_id FROM sample_stats' },
      { sql: 'SELECT lab_id FROM sample_daily_counts' },
    ]);
    t.true(samples.length >= 1);
    t.true(samples.every((r) => r.lab_id === mallory.id));
    t.false(samples.some((r) => r.sample_id === aliceSample));
    t.deepEqual(
      stats.map((r) => r.lab_id),
      [mallory.id],
    );
    t.true(daily.every((r) => r.lab_id === mallory.id));
    // Without any lab in scope, nothing at all.
    const [none] = await queryAsOwner<[unknown[]]>(knex, mallory.id, [{ sql: 'SELECT * FROM samples' }]);
    t.is(none.length, 0);
    // The same unfiltered query as the table owner (no RLS) does see both labs: the policy is what hides them.
    const all = await knex.raw<{ rows: { labs: number }[] }>('SELECT count(DISTINCT lab_id)::int AS labs FROM samples');
    t.true(all.rows[0]!.labs >= 2);
    // Writing through the reader role is refused outright.
    await t.throwsAsync(
      queryInScope(knex, mallory.id, labScope(mallory.id), [{ sql: `UPDATE samples SET notes = 'x'` }]),
    );
  } finally {
    await knex.destroy();
  }
});
