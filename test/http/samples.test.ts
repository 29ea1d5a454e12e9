// Samples over HTTP (API.md, Samples): every route and failure row, read-your-writes, ETag and
// If-Match, idempotency, concurrency (no lost update), history, pagination under inserts.
import test from 'ava';
import pg from 'pg';
import { call, newUser, useTestService, type TestUser } from '../support/service.ts';

let user: TestUser;
const svc = useTestService(test);
test.before(async () => {
  user = await newUser(svc.api, 'tech');
});

const today = () => new Date().toISOString().slice(0, 10);
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
const sample = (overrides: Record<string, unknown> = {}) => ({
  sampleType: 'blood',
  subjectId: 'P001',
  collectionDate: daysAgo(3),
  ...overrides,
});
/** The stats overview as the API answers it: zero everywhere but for the counts given. */
const overview = (
  total: number,
  byStatus: Record<string, number>,
  byType: Record<string, number>,
  collectedLast30Days: number,
) => ({
  total,
  byStatus: { collected: 0, processing: 0, archived: 0, consumed: 0, disposed: 0, ...byStatus },
  byType: { blood: 0, saliva: 0, tissue: 0, plasma: 0, serum: 0, buffy_coat: 0, dna: 0, rna: 0, ...byType },
  collectedLast30Days,
});
const stats = async (who: TestUser) =>
  (await call(svc.api, 'GET', '/samples/stats/overview', { token: who.accessToken })).body;

const create = async (who: TestUser, overrides: Record<string, unknown> = {}) => {
  const r = await call(svc.api, 'POST', '/samples', { token: who.accessToken, body: sample(overrides) });
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
};

test('POST /samples: 201 with the sample, Location and ETag; status defaults to collected', async (t) => {
  const r = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: sample({ notes: 'fasting', storageLocation: 'shelf-3' }),
  });
  t.is(r.status, 201);
  t.like(r.body, {
    sampleType: 'blood',
    subjectId: 'P001',
    status: 'collected',
    storageLocation: 'shelf-3',
    notes: 'fasting',
    version: 1,
  });
  t.is(r.headers.get('location'), `/api/v1/samples/${r.body.id}`);
  t.is(r.headers.get('etag'), '"1"');
  t.is(r.body.labId, user.id, "by default in the caller's personal lab, whose id is theirs");
  t.deepEqual(Object.keys(r.body).sort(), [
    'barcode',
    'collectionDate',
    'createdAt',
    'freezeThawCount',
    'id',
    'labId',
    'lineage',
    'notes',
    'parentId',
    'quantity',
    'remaining',
    'sampleType',
    'status',
    'storageLocation',
    'subjectId',
    'updatedAt',
    'version',
  ]);
  // Read-your-writes: the list, the sample and the stats show it at once.
  t.is((await call(svc.api, 'GET', `/samples/${r.body.id}`, { token: user.accessToken })).status, 200);
});

test('POST /samples: rules give 422 with every error; unknown and server-owned fields are refused', async (t) => {
  const bad = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: { sampleType: 'urine', subjectId: 'x1', collectionDate: '2999-01-01' },
  });
  t.is(bad.status, 422);
  t.is(bad.body.code, 'validation_failed');
  t.deepEqual(
    bad.body.errors.map((e: { path: string }) => e.path).sort(),
    ['collectionDate', 'sampleType', 'subjectId'],
    'a type error does not hide the rules the other fields break: one answer lists them all',
  );
  const typed = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: { sampleType: 'tissue', subjectId: 12, collectionDate: 'x' },
  });
  t.deepEqual(typed.body.errors.map((e: { path: string }) => e.path).sort(), [
    'collectionDate',
    'storageLocation',
    'subjectId',
  ]);
  const rules = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: sample({ subjectId: 'x1', collectionDate: '2999-01-01', sampleType: 'tissue' }),
  });
  t.is(rules.status, 422);
  t.deepEqual(rules.body.errors.map((e: { path: string }) => e.path).sort(), [
    'collectionDate',
    'storageLocation',
    'subjectId',
  ]);
  for (const field of ['id', 'ownerId', 'version', 'createdAt', 'updatedAt']) {
    const r = await call(svc.api, 'POST', '/samples', {
      token: user.accessToken,
      body: sample({ [field]: field === 'version' ? 7 : 'x' }),
    });
    t.is(r.status, 422, field);
    t.deepEqual(r.body.errors, [{ path: field, message: 'Unknown field' }]);
  }
  t.is((await call(svc.api, 'POST', '/samples', { body: sample() })).status, 401);
});

test('Idempotency-Key: a repeat returns the first answer and registers nothing new', async (t) => {
  const headers = { 'idempotency-key': `create-${Math.random()}` };
  const first = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: sample({ subjectId: 'I900' }),
    headers,
  });
  const again = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: sample({ subjectId: 'I900' }),
    headers,
  });
  t.is(first.status, 201);
  t.is(again.status, 201);
  t.is(again.body.id, first.body.id);
  const list = await call(svc.api, 'GET', '/samples?subjectId=I900', { token: user.accessToken });
  t.is(list.body.total, 1);
  const reused = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: sample({ subjectId: 'I901' }),
    headers,
  });
  t.is(reused.status, 422);
  t.is(reused.body.code, 'idempotency_key_reused');
});

test('GET /samples/{id}: 400 for a bad UUID, 404 for an unknown one', async (t) => {
  t.is((await call(svc.api, 'GET', '/samples/not-a-uuid', { token: user.accessToken })).body.code, 'invalid_id');
  const unknown = await call(svc.api, 'GET', `/samples/${crypto.randomUUID()}`, { token: user.accessToken });
  t.is(unknown.status, 404);
  t.is(unknown.body.code, 'not_found');
});

test('PATCH: partial change, new ETag; a status move and a move in one request are separate events', async (t) => {
  const created = await create(user);
  const id = created.body.id as string;
  const r = await call(svc.api, 'PATCH', `/samples/${id}`, {
    token: user.accessToken,
    body: { status: 'processing', storageLocation: 'freezer-2-rowA' },
    headers: { 'if-match': '"1"', 'x-change-reason': 'into the centrifuge' },
  });
  t.is(r.status, 200);
  t.like(r.body, { status: 'processing', storageLocation: 'freezer-2-rowA', version: 3 });
  t.is(r.headers.get('etag'), '"3"');
  const got = await call(svc.api, 'GET', `/samples/${id}`, { token: user.accessToken });
  t.like(got.body, { status: 'processing', version: 3 });
  const history = await call(svc.api, 'GET', `/samples/${id}/history`, { token: user.accessToken });
  t.deepEqual(
    history.body.items.map((i: { type: string }) => i.type),
    ['SampleRegistered', 'SampleMoved', 'SampleStatusChanged'],
  );
  t.is(history.body.items[2].reason, 'into the centrifuge');
});

test('PATCH: a stale If-Match is 412 and changes nothing; a malformed one is 400', async (t) => {
  const created = await create(user);
  const id = created.body.id as string;
  await call(svc.api, 'PATCH', `/samples/${id}`, { token: user.accessToken, body: { notes: 'first' } });
  const stale = await call(svc.api, 'PATCH', `/samples/${id}`, {
    token: user.accessToken,
    body: { notes: 'second' },
    headers: { 'if-match': '"1"' },
  });
  t.is(stale.status, 412);
  t.is(stale.body.code, 'version_mismatch');
  t.is(stale.headers.get('etag'), '"2"');
  t.is((await call(svc.api, 'GET', `/samples/${id}`, { token: user.accessToken })).body.notes, 'first');
  t.is(
    (
      await call(svc.api, 'PATCH', `/samples/${id}`, {
        token: user.accessToken,
        body: { notes: 'x' },
        headers: { 'if-match': 'abc' },
      })
    ).status,
    400,
  );
});

test('PATCH: invalid transitions are 422 invalid_transition; archived -> processing needs a reason', async (t) => {
  const created = await create(user);
  const id = created.body.id as string;
  t.is(
    (await call(svc.api, 'PATCH', `/samples/${id}`, { token: user.accessToken, body: { status: 'archived' } })).status,
    200,
  );
  const noReason = await call(svc.api, 'PATCH', `/samples/${id}`, {
    token: user.accessToken,
    body: { status: 'processing' },
  });
  t.is(noReason.status, 422);
  t.is(noReason.body.code, 'invalid_transition');
  const withReason = await call(svc.api, 'PATCH', `/samples/${id}`, {
    token: user.accessToken,
    body: { status: 'processing', reason: 'PI asked for re-analysis' },
  });
  t.is(withReason.status, 200);
  const back = await call(svc.api, 'PATCH', `/samples/${id}`, {
    token: user.accessToken,
    body: { status: 'collected' },
  });
  t.is(back.status, 422);
  t.is(back.body.code, 'invalid_transition');
  const empty = await call(svc.api, 'PATCH', `/samples/${id}`, { token: user.accessToken, body: {} });
  t.is(empty.status, 422);
});

test('PUT replaces the editable fields (absent optional ones become null)', async (t) => {
  const created = await create(user, { notes: 'old', storageLocation: 'shelf-1' });
  const id = created.body.id as string;
  const r = await call(svc.api, 'PUT', `/samples/${id}`, {
    token: user.accessToken,
    body: { sampleType: 'saliva', subjectId: 'S123', collectionDate: daysAgo(1), status: 'collected' },
  });
  t.is(r.status, 200);
  t.like(r.body, { sampleType: 'saliva', subjectId: 'S123', storageLocation: null, notes: null });
  const missing = await call(svc.api, 'PUT', `/samples/${id}`, {
    token: user.accessToken,
    body: { sampleType: 'saliva' },
  });
  t.is(missing.status, 422);
});

test('DELETE: the sample leaves lists and stats, its history stays', async (t) => {
  const other = await newUser(svc.api, 'deleter');
  const created = await create(other, { subjectId: 'D100' });
  const id = created.body.id as string;
  t.is((await stats(other)).total, 1);
  t.is(
    (
      await call(svc.api, 'DELETE', `/samples/${id}`, {
        token: other.accessToken,
        headers: { 'x-change-reason': 'tube broke' },
      })
    ).status,
    204,
  );
  t.is((await call(svc.api, 'GET', `/samples/${id}`, { token: other.accessToken })).status, 404);
  t.is((await call(svc.api, 'GET', '/samples', { token: other.accessToken })).body.total, 0);
  t.is((await call(svc.api, 'GET', '/samples/subject/D100', { token: other.accessToken })).body.total, 0);
  t.deepEqual(await stats(other), overview(0, {}, {}, 0));
  const history = await call(svc.api, 'GET', `/samples/${id}/history`, { token: other.accessToken });
  t.is(history.status, 200);
  t.is(history.body.items.at(-1).type, 'SampleDiscarded');
  t.is(history.body.items.at(-1).reason, 'tube broke');
  t.is((await call(svc.api, 'DELETE', `/samples/${id}`, { token: other.accessToken })).status, 404);
  t.is(
    (await call(svc.api, 'PATCH', `/samples/${id}`, { token: other.accessToken, body: { notes: 'x' } })).status,
    404,
  );
});

test('filters combine; sorted newest collection first; subject route equals the filter', async (t) => {
  const who = await newUser(svc.api, 'filter');
  await create(who, { subjectId: 'F001', collectionDate: daysAgo(10) });
  await create(who, { subjectId: 'F001', collectionDate: daysAgo(2), sampleType: 'saliva' });
  await create(who, { subjectId: 'F002', collectionDate: daysAgo(5), status: 'archived' });
  await create(who, {
    subjectId: 'F001',
    collectionDate: daysAgo(40),
    sampleType: 'tissue',
    storageLocation: 'freezer-1-rowA',
  });
  const all = await call(svc.api, 'GET', '/samples', { token: who.accessToken });
  t.deepEqual(
    all.body.items.map((s: { collectionDate: string }) => s.collectionDate),
    [daysAgo(2), daysAgo(5), daysAgo(10), daysAgo(40)],
  );
  const f001 = await call(svc.api, 'GET', '/samples?subjectId=F001&sampleType=blood', { token: who.accessToken });
  t.is(f001.body.total, 1);
  const range = await call(svc.api, 'GET', `/samples?collectedFrom=${daysAgo(10)}&collectedTo=${daysAgo(2)}`, {
    token: who.accessToken,
  });
  t.is(range.body.total, 3, 'both ends inclusive');
  t.is((await call(svc.api, 'GET', '/samples?status=archived', { token: who.accessToken })).body.total, 1);
  const bySubject = await call(svc.api, 'GET', '/samples/subject/F001', { token: who.accessToken });
  const byFilter = await call(svc.api, 'GET', '/samples?subjectId=F001', { token: who.accessToken });
  t.deepEqual(bySubject.body, byFilter.body);
  for (const q of [
    'status=broken',
    'sampleType=urine',
    'collectedFrom=yesterday',
    'limit=0',
    'limit=101',
    'colour=red',
    'cursor=zzz',
  ]) {
    const r = await call(svc.api, 'GET', `/samples?${q}`, { token: who.accessToken });
    t.is(r.status, 400, q);
    t.is(r.body.code, 'invalid_query', q);
  }
});

test('stats overview counts by status and type, and the last 30 days', async (t) => {
  const who = await newUser(svc.api, 'stats');
  await create(who, { collectionDate: daysAgo(1) });
  await create(who, { collectionDate: daysAgo(29), sampleType: 'saliva', status: 'processing' });
  await create(who, {
    collectionDate: daysAgo(31),
    sampleType: 'tissue',
    storageLocation: 'freezer-1-rowA',
    status: 'archived',
  });
  t.deepEqual(
    await stats(who),
    overview(3, { collected: 1, processing: 1, archived: 1 }, { blood: 1, saliva: 1, tissue: 1 }, 2),
  );
  const s = (await call(svc.api, 'GET', '/samples?sampleType=saliva', { token: who.accessToken })).body.items[0];
  await call(svc.api, 'PATCH', `/samples/${s.id}`, {
    token: who.accessToken,
    body: { sampleType: 'blood', status: 'archived', collectionDate: daysAgo(60) },
  });
  t.deepEqual(await stats(who), overview(3, { collected: 1, archived: 2 }, { blood: 2, tissue: 1 }, 1));
  t.is(today().length, 10);
});

test('20 parallel PATCHes without If-Match: none is lost', async (t) => {
  const created = await create(user);
  const id = created.body.id as string;
  const notes = Array.from({ length: 20 }, (_, i) => `note ${i}`);
  const answers = await Promise.all(
    notes.map((n) => call(svc.api, 'PATCH', `/samples/${id}`, { token: user.accessToken, body: { notes: n } })),
  );
  t.deepEqual(
    answers.map((a) => a.status),
    notes.map(() => 200),
  );
  const history = await call(svc.api, 'GET', `/samples/${id}/history`, { token: user.accessToken });
  const corrections = history.body.items.filter((i: { type: string }) => i.type === 'SampleDetailsCorrected');
  t.is(corrections.length, 20);
  t.deepEqual(
    corrections.map((c: { changes: { notes: { to: string } } }) => c.changes.notes.to).sort(),
    [...notes].sort(),
  );
  // Each correction starts from the previous one's value: a chain, not 20 edits of the original.
  for (let i = 1; i < corrections.length; i++)
    t.is(corrections[i].changes.notes.from, corrections[i - 1].changes.notes.to);
  const final = await call(svc.api, 'GET', `/samples/${id}`, { token: user.accessToken });
  t.is(final.body.notes, corrections.at(-1).changes.notes.to);
  t.is(final.body.version, 21);
});

test('history: version, type, time, actor with username, request id, reason, field changes', async (t) => {
  const created = await create(user, { notes: 'a' });
  const id = created.body.id as string;
  await call(svc.api, 'PATCH', `/samples/${id}`, {
    token: user.accessToken,
    body: { notes: 'b', collectionDate: daysAgo(4) },
    headers: { 'x-request-id': 'req-history-1', 'x-change-reason': 'typo' },
  });
  const r = await call(svc.api, 'GET', `/samples/${id}/history`, { token: user.accessToken });
  t.is(r.status, 200);
  const [first, second] = r.body.items;
  t.like(first, { version: 1, type: 'SampleRegistered', actor: { id: user.id, username: user.username } });
  t.like(second, {
    version: 2,
    type: 'SampleDetailsCorrected',
    requestId: 'req-history-1',
    reason: 'typo',
    actor: { id: user.id, username: user.username },
  });
  t.deepEqual(second.changes, { collectionDate: { from: daysAgo(3), to: daysAgo(4) }, notes: { from: 'a', to: 'b' } });
  t.true(Date.parse(second.occurredAt) >= Date.parse(first.occurredAt));
});

test('pagination neither repeats nor skips while samples are being added', async (t) => {
  const who = await newUser(svc.api, 'pager');
  for (let i = 0; i < 25; i++) await create(who, { subjectId: `G${String(100 + i)}`, collectionDate: daysAgo(i % 9) });
  const seen: string[] = [];
  let cursor: string | null = null;
  let page = 0;
  do {
    const r: { body: { items: { id: string }[]; nextCursor: string | null } } = await call(
      svc.api,
      'GET',
      `/samples?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      { token: who.accessToken },
    );
    seen.push(...r.body.items.map((s) => s.id));
    cursor = r.body.nextCursor;
    // Meanwhile new samples arrive, some sorting before the cursor, some after.
    await create(who, { subjectId: `H${String(100 + page)}`, collectionDate: daysAgo(page % 2 === 0 ? 0 : 8) });
    page += 1;
  } while (cursor);
  t.is(new Set(seen).size, seen.length, 'no sample twice');
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    const original = await client.query(`SELECT sample_id FROM samples WHERE owner_id = $1 AND subject_id LIKE 'G%'`, [
      who.id,
    ]);
    const missing = original.rows
      .map((r: { sample_id: string }) => r.sample_id)
      .filter((id: string) => !seen.includes(id));
    t.deepEqual(missing, [], 'every sample that existed before the first page was seen');
  } finally {
    await client.end();
  }
});
